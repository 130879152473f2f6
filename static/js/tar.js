// A ustar writer for uploading a folder: the browser has the folder's files but no archiver, and
// the workspace API takes an archive. Paths up to 100 bytes go in the name field; longer ones are
// split at a "/" into the 155-byte prefix field and the name field; a path that cannot be split
// that way gets a pax extended header ("x") carrying it. The result is a Blob built from the
// files' own Blobs, so the files are never copied into one big buffer here.

const BLOCK = 512;
const encoder = new TextEncoder();

/** `value` as `width - 1` octal digits and a NUL, the way ustar numeric fields are written. */
function octal(value, width) {
  return Math.max(0, Math.floor(value)).toString(8).padStart(width - 1, "0").slice(-(width - 1)) + "\0";
}

function putAscii(header, offset, text) {
  for (let i = 0; i < text.length; i++) header[offset + i] = text.charCodeAt(i) & 0xff;
}

/** One 512-byte header block. `name` and `prefix` are UTF-8 bytes that fit their fields. */
function headerBlock({ name, prefix = new Uint8Array(0), size, mtime, type = "0" }) {
  const header = new Uint8Array(BLOCK);
  header.set(name, 0);
  putAscii(header, 100, octal(0o644, 8));
  putAscii(header, 108, octal(0, 8));
  putAscii(header, 116, octal(0, 8));
  putAscii(header, 124, octal(size, 12));
  putAscii(header, 136, octal(mtime, 12));
  putAscii(header, 148, "        "); // the checksum counts its own field as spaces
  putAscii(header, 156, type);
  putAscii(header, 257, "ustar\0");
  putAscii(header, 263, "00");
  header.set(prefix, 345);
  let sum = 0;
  for (const byte of header) sum += byte;
  putAscii(header, 148, sum.toString(8).padStart(6, "0") + "\0 ");
  return header;
}

/**
 * Where a path's bytes go: { name, prefix } when ustar can hold it, else null (it needs pax).
 * The split is at the last "/" that leaves a name of at most 100 bytes and a prefix of at most 155.
 */
export function splitUstarPath(pathBytes) {
  if (pathBytes.length <= 100) return { name: pathBytes, prefix: new Uint8Array(0) };
  if (pathBytes.length > 256) return null;
  for (let i = pathBytes.length - 1; i > 0; i--) {
    if (pathBytes[i] !== 0x2f) continue; // "/"
    const prefix = pathBytes.subarray(0, i);
    const name = pathBytes.subarray(i + 1);
    if (name.length === 0 || name.length > 100) return null;
    if (prefix.length <= 155) return { name, prefix };
  }
  return null;
}

/** A pax record "LEN key=value\n", whose LEN counts its own digits. */
function paxRecord(key, value) {
  const body = encoder.encode(` ${key}=${value}\n`);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  const record = new Uint8Array(length);
  record.set(encoder.encode(String(length)), 0);
  record.set(body, String(length).length);
  return record;
}

const padding = (size) => new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);

/**
 * A tar Blob of `entries`: [{ path, file }] where `file` is a Blob/File (its size and
 * lastModified are used). Paths are "/"-separated and relative.
 */
export function buildTar(entries) {
  const parts = [];
  for (const { path, file } of entries) {
    const pathBytes = encoder.encode(path);
    const mtime = (file.lastModified ?? Date.now()) / 1000;
    const split = splitUstarPath(pathBytes);
    if (split) {
      parts.push(headerBlock({ ...split, size: file.size, mtime }));
    } else {
      const records = paxRecord("path", path);
      const placeholder = encoder.encode(`PaxHeader/${path.split("/").pop()}`.slice(0, 100));
      parts.push(headerBlock({ name: safeSlice(placeholder, 100), size: records.length, mtime, type: "x" }));
      parts.push(records, padding(records.length));
      parts.push(headerBlock({ name: safeSlice(pathBytes.subarray(pathBytes.length - 100), 100), size: file.size, mtime }));
    }
    parts.push(file, padding(file.size));
  }
  parts.push(new Uint8Array(BLOCK * 2)); // end of archive: two zero blocks
  return new Blob(parts, { type: "application/x-tar" });
}

/** At most `max` bytes of `bytes` (the field it goes in is only informative under pax). */
function safeSlice(bytes, max) {
  return bytes.length <= max ? bytes : bytes.subarray(0, max);
}
