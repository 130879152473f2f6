// Archive builders for the workspace tests: ustar tar (files, directories, symlinks, hard links),
// gzip, and zip (stored or deflated), written here so the tests need no archiver on the machine.
import { gzipSync, deflateRawSync, crc32 } from "node:zlib";

const enc = (s) => (Buffer.isBuffer(s) ? s : Buffer.from(s));

function tarHeader({ path, size = 0, type = "0", linkname = "" }) {
  const h = Buffer.alloc(512, 0);
  let name = enc(path);
  let prefix = Buffer.alloc(0);
  if (name.length > 100) {
    // ustar: a path up to 255 bytes splits at a `/` into prefix (≤ 155) and name (≤ 100).
    const cut = path.lastIndexOf("/", 155);
    if (cut <= 0 || Buffer.byteLength(path.slice(cut + 1)) > 100) throw new Error(`tar path too long for ustar: ${path}`);
    prefix = enc(path.slice(0, cut));
    name = enc(path.slice(cut + 1));
  }
  name.copy(h, 0);
  prefix.copy(h, 345);
  h.write("0000644\0", 100, "ascii");
  h.write("0000000\0", 108, "ascii");
  h.write("0000000\0", 116, "ascii");
  h.write(size.toString(8).padStart(11, "0") + "\0", 124, "ascii");
  h.write("00000000000\0", 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write(type, 156, "ascii");
  enc(linkname).copy(h, 157);
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return h;
}

/** entries: [{ path, content?, type?: "file"|"dir"|"symlink"|"hardlink", linkname? }] */
export function tar(entries) {
  const parts = [];
  for (const e of entries) {
    const type = { file: "0", dir: "5", symlink: "2", hardlink: "1" }[e.type ?? "file"];
    const data = type === "0" ? enc(e.content ?? "") : Buffer.alloc(0);
    parts.push(tarHeader({ path: e.path, size: data.length, type, linkname: e.linkname ?? "" }));
    parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const tarGz = (entries) => gzipSync(tar(entries));

/** entries: [{ path, content }]; options.deflate (default true). */
export function zip(entries, { deflate = true } = {}) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const e of entries) {
    const data = enc(e.content ?? "");
    const name = enc(e.path);
    const body = deflate ? deflateRawSync(data) : data;
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
