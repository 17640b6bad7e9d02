// The named machine sizes of heyvm's dialect (`resize --size-class`, the cloud's size_class),
// each a number of CPUs and an amount of memory: one table for local sandboxes and the server.
// The names are the cloud schema's (the record below has one entry for each of them).
import { SIZE_CLASSES as SIZE_CLASS_NAMES, type SizeClass as SizeClassName } from "../cloud/schema.js";

export { SIZE_CLASS_NAMES, type SizeClassName };

export const SIZE_CLASSES: Record<SizeClassName, { cpus: number; memoryMiB: number }> = {
  micro: { cpus: 1, memoryMiB: 512 },
  mini: { cpus: 1, memoryMiB: 1024 },
  small: { cpus: 2, memoryMiB: 2048 },
  medium: { cpus: 4, memoryMiB: 4096 },
  large: { cpus: 8, memoryMiB: 8192 },
  xlarge: { cpus: 16, memoryMiB: 16384 },
};

export function isSizeClassName(value: string): value is SizeClassName {
  return (SIZE_CLASS_NAMES as readonly string[]).includes(value);
}
