// A reader for safetensors files: the binary answer of POST /api/rollout when the request sends
// `Accept: application/octet-stream`. Layout: 8-byte little-endian header length N, N bytes of
// JSON header ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {key: string}}),
// then the tensors' raw little-endian bytes. Used by the rollouts panel and by the end-to-end tests.

const DTYPES = {
  F64: [Float64Array, 8],
  F32: [Float32Array, 4],
  I64: [BigInt64Array, 8],
  U64: [BigUint64Array, 8],
  I32: [Int32Array, 4],
  U32: [Uint32Array, 4],
  U8: [Uint8Array, 1],
  BOOL: [Uint8Array, 1],
};

// Typed arrays use the platform's byte order; every platform a browser or Node runs on here is
// little-endian, like the file. Refuse to misread rather than assume.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Parses a safetensors file. Returns { metadata: {key: string}, tensors: {name: {dtype, shape,
 * data}} } where data is a typed array in row-major order (a view on `buffer` when aligned).
 * Throws an Error naming the problem when the bytes are not a well-formed file.
 */
export function parseSafetensors(buffer) {
  if (!LITTLE_ENDIAN) throw new Error("safetensors: big-endian platforms are not supported");
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  if (bytes.byteLength < 8) throw new Error("safetensors: shorter than its 8-byte header length");
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const dataStart = 8 + headerLength;
  if (dataStart > bytes.byteLength) throw new Error(`safetensors: header of ${headerLength} bytes runs past the end`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, dataStart)));
  const metadata = header.__metadata__ ?? {};
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const type = DTYPES[info.dtype];
    if (!type) throw new Error(`safetensors: tensor ${name} has unsupported dtype ${info.dtype}`);
    const [Ctor, size] = type;
    const [begin, end] = info.data_offsets;
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * size || dataStart + end > bytes.byteLength) {
      throw new Error(`safetensors: tensor ${name} has offsets [${begin}, ${end}] that do not fit its shape or the file`);
    }
    const offset = bytes.byteOffset + dataStart + begin;
    const data = offset % size === 0
      ? new Ctor(bytes.buffer, offset, count)
      : new Ctor(bytes.slice(dataStart + begin, dataStart + end).buffer);
    tensors[name] = { dtype: info.dtype, shape: info.shape, data };
  }
  return { metadata, tensors };
}

/**
 * A binary rollout answer as { summary, trajectory }: the summary object (JSON text in the
 * metadata entry "summary"), the trajectory as {name: {dtype, shape, data}} or null.
 */
export function readRolloutAnswer(buffer) {
  const { metadata, tensors } = parseSafetensors(buffer);
  if (typeof metadata.summary !== "string") throw new Error("safetensors: no summary in the metadata");
  return { summary: JSON.parse(metadata.summary), trajectory: Object.keys(tensors).length ? tensors : null };
}
