// What tc prints back for HTB rates and bursts: the planner writes objects in exactly that form, and
// rendering checks that a class holds tc's own derived burst.

/** tc's default for the size of a class's cell table and burst computation. */
const TC_MTU = 1600;

/**
 * A rate as tc prints it back: the kernel keeps whole bytes per second, and tc shortens the number to
 * K/M/G/T units, dropping digits once it is at least 1000 of a unit (1234568 kbit shows as 1234 Mbit).
 * Idempotent: tcRate(tcRate(x)) === tcRate(x).
 */
export function tcRate(bitsPerSecond: number): number {
  let r = Math.floor(Math.floor(bitsPerSecond) / 8) * 8;
  let scale = 1;
  for (let i = 0; i < 4; i++) {
    if (r < 1000) break;
    if (r % 1000 !== 0 && r < 1000 * 1000) break;
    r = Math.floor(r / 1000);
    scale *= 1000;
  }
  return r * scale;
}

/** psched ticks per microsecond (/proc/net/psched: 1000/64 on every kernel with high-resolution timers). */
const TICKS_PER_USEC = 1000 / 64;

/** C's conversion of a double to `unsigned int` as tc is built (x86-64, arm64): truncate, wrap at 2^32. */
const u32 = (x: number): number => {
  const t = Math.trunc(x);
  return ((t % 2 ** 32) + 2 ** 32) % 2 ** 32;
};

/**
 * The burst tc prints for an htb class given no burst, at a rate in bit/s: tc takes rate/HZ + mtu bytes,
 * stores it as whole microseconds then whole ticks (unsigned 32-bit, so very slow rates wrap), and prints
 * it back through the same truncations (iproute2's tc_calc_xmittime / tc_calc_xmitsize), then as "NKb"
 * when it is within 16 bytes of whole KiB.
 */
export function htbDefaultBurst(rateBits: number): number {
  const rate = Math.floor(rateBits / 8);
  const bytes = Math.floor(rate / 1e9) + TC_MTU;
  const usec = u32(1e6 * (bytes / rate));
  const ticks = u32(usec * TICKS_PER_USEC);
  const shownUsec = u32(ticks / TICKS_PER_USEC);
  const size = u32((rate * shownUsec) / 1e6);
  return shownSize(size);
}

/** A size in bytes as tc prints it and the observer reads it back ("1600b", "15Kb", "2Mb"). */
function shownSize(sz: number): number {
  const mib = 1024 * 1024;
  if (sz >= mib && Math.abs(mib * Math.round(sz / mib) - sz) < 1024) return Math.round(sz / mib) * mib;
  if (sz >= 1024 && Math.abs(1024 * Math.round(sz / 1024) - sz) < 16) return Math.round(sz / 1024) * 1024;
  return sz;
}
