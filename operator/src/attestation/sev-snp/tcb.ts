// TCB_VERSION (ABI spec "TCB_VERSION Structure"): eight bytes whose meaning depends on the generation.
// Milan/Genoa: byte0 boot_loader, byte1 tee, bytes2-5 reserved, byte6 snp, byte7 microcode.
// Turin: byte0 fmc, byte1 boot_loader, byte2 tee, byte3 snp, bytes4-6 reserved, byte7 microcode.
import { toHex } from '../bytes.js';

export type Generation = 'Milan' | 'Genoa' | 'Turin';

export interface SnpTcb {
  /** The eight bytes in report order, hex. */
  raw: string;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  fmc?: number;
}

export function decodeTcb(bytes: Uint8Array, generation: Generation): SnpTcb {
  if (generation === 'Turin') {
    return { raw: toHex(bytes), fmc: bytes[0]!, bootloader: bytes[1]!, tee: bytes[2]!, snp: bytes[3]!, microcode: bytes[7]! };
  }
  return { raw: toHex(bytes), bootloader: bytes[0]!, tee: bytes[1]!, snp: bytes[6]!, microcode: bytes[7]! };
}

/** Generation from the certificate's productName extension ("Milan-B0", "Genoa", "Turin", ...). */
export function generationFromProductName(name: string | undefined): Generation | undefined {
  const prefix = name?.split('-')[0];
  return prefix === 'Milan' || prefix === 'Genoa' || prefix === 'Turin' ? prefix : undefined;
}

/** Generation implied by a v3+ report's CPUID (family 19h: Milan models 00-0F, Genoa 10-1F/A0-AF; 1Ah: Turin). */
export function generationFromCpuid(family: number, model: number): Generation | undefined {
  if (family === 0x1a) return 'Turin';
  if (family === 0x19) {
    if (model <= 0x0f) return 'Milan';
    if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)) return 'Genoa';
  }
  return undefined;
}
