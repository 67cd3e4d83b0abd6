import { openSync, readSync, closeSync } from 'node:fs';

/** The machine field (e_machine) of the ELF architectures berth ships for. */
export const ELF_MACHINE = { x64: 62, arm64: 183 } as const;

export interface ElfIdentity {
  bits: 32 | 64;
  endian: 'little' | 'big';
  /** e_machine: 62 = x86-64, 183 = AArch64. */
  machine: number;
}

/** Reads the identification and machine fields of an ELF file's header. */
export function readElfIdentity(path: string): ElfIdentity {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  let read: number;
  try {
    read = readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (read < header.length || header.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not an ELF file`);
  const bitsByte = header[4];
  const endianByte = header[5];
  if ((bitsByte !== 1 && bitsByte !== 2) || (endianByte !== 1 && endianByte !== 2)) {
    throw new Error(`${path} has an invalid ELF identification`);
  }
  const endian = endianByte === 1 ? 'little' : 'big';
  return {
    bits: bitsByte === 1 ? 32 : 64,
    endian,
    machine: endian === 'little' ? header.readUInt16LE(18) : header.readUInt16BE(18),
  };
}
