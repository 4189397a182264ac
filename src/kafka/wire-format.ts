/**
 * The Confluent wire format of Kafka values: magic byte 0, 4-byte big-endian schema id, then the
 * Avro body. Both the CDC decoder and the status publisher frame with it.
 */

export const MAGIC_BYTE = 0;

/** Bytes before the Avro body. */
export const WIRE_HEADER_BYTES = 5;

/** Writes the header of `schemaId` at the start of `buf`. */
export function writeWireHeader(buf: Buffer, schemaId: number): void {
  buf.writeUInt8(MAGIC_BYTE, 0);
  buf.writeInt32BE(schemaId, 1);
}

/** Prefixes an Avro body with the header of `schemaId`. */
export function encodeWire(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(WIRE_HEADER_BYTES);
  writeWireHeader(header, schemaId);
  return Buffer.concat([header, body]);
}
