// Deterministic normally distributed numbers from a 32-bit seed: the same seed gives the same model
// bytes on every machine (Math.random cannot be seeded). mulberry32 for uniforms, Box–Muller for normals.

/** A generator of N(0, std²) samples determined entirely by `seed`. */
export function seededNormal(seed: number, std: number): () => number {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    // 1 - u keeps the logarithm's argument in (0, 1].
    const u1 = 1 - uniform();
    const u2 = uniform();
    return std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  };
}
