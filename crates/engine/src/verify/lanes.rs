//! MD5 of many independent byte slices at once, in one thread.
//!
//! One MD5 is a chain of dependent steps: each step needs the previous result, so a
//! core runs it at the latency of that chain and leaves most of its ALUs idle. Hashing
//! two to four independent messages in lockstep ("lanes") fills them. The slices of a
//! verification batch (blocks, page ranges, small files) are independent, so a worker
//! hashes them this way. Measured on the development machine (AMD EPYC, 4 MiB
//! messages, CPU time): the md-5 crate 505 MB/s (540 with its `asm` feature), one lane
//! here 565 MB/s, two lanes 1,060 MB/s, four lanes 1,280 MB/s per core.
//!
//! The step functions are written so that the part that depends on the newest state
//! word is as short as possible: G adds `c & !d` (which does not depend on `b`) before
//! `b & d` (the two never share a set bit, so `+` equals `|`), H computes `c ^ d` first.
//! Results are checked against the md-5 crate in the tests.
//!
//! Where the CPU has AVX2 and at least three messages are at hand, eight lanes run in
//! vector registers instead (`md5x8.rs`, about three times as fast again).

use crate::model::Md5;

/// Lanes hashed together at most. Four keeps every state word in a register on x86_64.
const MAX_LANES: usize = 4;

const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

pub(super) const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// One step on every lane: `a = b + rotl(a + f(b, c, d) + m + k, s)`. The message word
/// and constant are added first, off the path that waits for `b`.
macro_rules! step {
    ($n:ident, $f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident, $i:expr, $k:expr, $s:expr) => {
        for l in 0..$n {
            $a[l] = $a[l].wrapping_add($m[l][$i]).wrapping_add($k);
        }
        for l in 0..$n {
            $a[l] = step!(@$f $a[l], $b[l], $c[l], $d[l]).rotate_left($s).wrapping_add($b[l]);
        }
    };
    (@F $a:expr, $b:expr, $c:expr, $d:expr) => { $a.wrapping_add((($c ^ $d) & $b) ^ $d) };
    (@G $a:expr, $b:expr, $c:expr, $d:expr) => { $a.wrapping_add($c & !$d).wrapping_add($b & $d) };
    (@H $a:expr, $b:expr, $c:expr, $d:expr) => { $a.wrapping_add($b ^ ($c ^ $d)) };
    (@I $a:expr, $b:expr, $c:expr, $d:expr) => { $a.wrapping_add($c ^ ($b | !$d)) };
}

macro_rules! round {
    ($n:ident, $f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident, $r:expr, $idx:expr, $s:expr) => {
        step!($n, $f, $a, $b, $c, $d, $m, $idx[0], K[$r * 16], $s[0]);
        step!($n, $f, $d, $a, $b, $c, $m, $idx[1], K[$r * 16 + 1], $s[1]);
        step!($n, $f, $c, $d, $a, $b, $m, $idx[2], K[$r * 16 + 2], $s[2]);
        step!($n, $f, $b, $c, $d, $a, $m, $idx[3], K[$r * 16 + 3], $s[3]);
        step!($n, $f, $a, $b, $c, $d, $m, $idx[4], K[$r * 16 + 4], $s[0]);
        step!($n, $f, $d, $a, $b, $c, $m, $idx[5], K[$r * 16 + 5], $s[1]);
        step!($n, $f, $c, $d, $a, $b, $m, $idx[6], K[$r * 16 + 6], $s[2]);
        step!($n, $f, $b, $c, $d, $a, $m, $idx[7], K[$r * 16 + 7], $s[3]);
        step!($n, $f, $a, $b, $c, $d, $m, $idx[8], K[$r * 16 + 8], $s[0]);
        step!($n, $f, $d, $a, $b, $c, $m, $idx[9], K[$r * 16 + 9], $s[1]);
        step!($n, $f, $c, $d, $a, $b, $m, $idx[10], K[$r * 16 + 10], $s[2]);
        step!($n, $f, $b, $c, $d, $a, $m, $idx[11], K[$r * 16 + 11], $s[3]);
        step!($n, $f, $a, $b, $c, $d, $m, $idx[12], K[$r * 16 + 12], $s[0]);
        step!($n, $f, $d, $a, $b, $c, $m, $idx[13], K[$r * 16 + 13], $s[1]);
        step!($n, $f, $c, $d, $a, $b, $m, $idx[14], K[$r * 16 + 14], $s[2]);
        step!($n, $f, $b, $c, $d, $a, $m, $idx[15], K[$r * 16 + 15], $s[3]);
    };
}

/// Compresses one 64-byte block into each of `N` states.
#[inline(always)]
fn compress<const N: usize>(state: &mut [[u32; 4]; N], blocks: [&[u8; 64]; N]) {
    let mut m = [[0u32; 16]; N];
    for l in 0..N {
        for (i, word) in blocks[l].chunks_exact(4).enumerate() {
            m[l][i] = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        }
    }
    let (mut a, mut b, mut c, mut d) = ([0u32; N], [0u32; N], [0u32; N], [0u32; N]);
    for l in 0..N {
        [a[l], b[l], c[l], d[l]] = state[l];
    }
    round!(N, F, a, b, c, d, m, 0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [7, 12, 17, 22]);
    round!(N, G, a, b, c, d, m, 1, [1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12], [5, 9, 14, 20]);
    round!(N, H, a, b, c, d, m, 2, [5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2], [4, 11, 16, 23]);
    round!(N, I, a, b, c, d, m, 3, [0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9], [6, 10, 15, 21]);
    for l in 0..N {
        state[l][0] = state[l][0].wrapping_add(a[l]);
        state[l][1] = state[l][1].wrapping_add(b[l]);
        state[l][2] = state[l][2].wrapping_add(c[l]);
        state[l][3] = state[l][3].wrapping_add(d[l]);
    }
}

/// Hashes what is left of a message (`rest`, whole blocks and a tail) on its own and
/// pads it; `total` is the whole message's length.
fn finish(mut state: [u32; 4], rest: &[u8], total: u64) -> Md5 {
    let mut st = [state];
    let mut blocks = rest.chunks_exact(64);
    for block in &mut blocks {
        compress::<1>(&mut st, [block.try_into().expect("64 bytes")]);
    }
    let tail = blocks.remainder();
    let mut pad = [0u8; 128];
    pad[..tail.len()].copy_from_slice(tail);
    pad[tail.len()] = 0x80;
    let end = if tail.len() < 56 { 64 } else { 128 };
    pad[end - 8..end].copy_from_slice(&total.wrapping_mul(8).to_le_bytes());
    for block in pad[..end].chunks_exact(64) {
        compress::<1>(&mut st, [block.try_into().expect("64 bytes")]);
    }
    state = st[0];
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    Md5(out)
}

/// One message being hashed: `done` whole blocks of `data` are in `state`.
struct Lane<'a> {
    index: usize,
    data: &'a [u8],
    done: usize,
    state: [u32; 4],
}

impl Lane<'_> {
    fn blocks_left(&self) -> usize {
        self.data.len() / 64 - self.done
    }
}

/// Advances all lanes by as many blocks as the shortest of them has left.
fn advance<const N: usize>(lanes: &mut [Lane]) {
    let steps = lanes.iter().map(Lane::blocks_left).min().unwrap_or(0);
    let mut state: [[u32; 4]; N] = std::array::from_fn(|l| lanes[l].state);
    let data: [&[u8]; N] = std::array::from_fn(|l| &lanes[l].data[lanes[l].done * 64..]);
    for s in 0..steps {
        let blocks: [&[u8; 64]; N] =
            std::array::from_fn(|l| data[l][s * 64..s * 64 + 64].try_into().expect("64 bytes"));
        compress(&mut state, blocks);
    }
    for (lane, st) in lanes.iter_mut().zip(state) {
        lane.state = st;
        lane.done += steps;
    }
}

/// Advances up to eight lanes in AVX2 registers by as many blocks as the shortest has
/// left. Missing lanes repeat the first one's data; their results are dropped.
#[cfg(target_arch = "x86_64")]
fn advance_wide(lanes: &mut [Lane]) {
    assert!((1..=8).contains(&lanes.len()), "{} lanes", lanes.len());
    // Checked here, not only by the caller: the call below is unsound without it.
    assert!(super::md5x8::available(), "AVX2 lanes on a CPU without AVX2");
    let steps = lanes.iter().map(Lane::blocks_left).min().unwrap_or(0);
    let mut state = [[0u32; 8]; 4];
    let mut data = [lanes[0].data[lanes[0].done * 64..].as_ptr(); 8];
    for (l, lane) in lanes.iter().enumerate() {
        for (word, value) in state.iter_mut().zip(lane.state) {
            word[l] = value;
        }
        data[l] = lane.data[lane.done * 64..].as_ptr();
    }
    // SAFETY: AVX2 was detected, and every pointer has at least `steps` whole blocks
    // after it: `steps` is the fewest any lane has left, and the spare lanes point at
    // lane 0's data.
    unsafe { super::md5x8::compress8(&mut state, data, steps) };
    for (l, lane) in lanes.iter_mut().enumerate() {
        lane.state = [state[0][l], state[1][l], state[2][l], state[3][l]];
        lane.done += steps;
    }
}

/// Whether to hash in eight vector lanes: the CPU can, and enough slices wait.
fn use_wide(slices: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        slices >= super::md5x8::MIN_LANES && super::md5x8::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = slices;
        false
    }
}

/// Hashes every slice; calls `out(i, md5)` for `slices[i]`, in no particular order.
pub(crate) fn md5_each(slices: &[&[u8]], out: impl FnMut(usize, Md5)) {
    md5_each_in(slices, use_wide(slices.len()), out)
}

/// [`md5_each`] with the choice of vector lanes made by the caller (the tests run both).
fn md5_each_in(slices: &[&[u8]], wide: bool, mut out: impl FnMut(usize, Md5)) {
    let max_lanes = if wide { 8 } else { MAX_LANES };
    let mut queue = slices.iter().enumerate();
    let mut lanes: Vec<Lane> = Vec::with_capacity(max_lanes);
    loop {
        while lanes.len() < max_lanes {
            let Some((index, data)) = queue.next() else { break };
            lanes.push(Lane { index, data, done: 0, state: INIT });
        }
        match lanes.len() {
            0 => return,
            #[cfg(target_arch = "x86_64")]
            n if wide && n >= super::md5x8::MIN_LANES => advance_wide(&mut lanes),
            1 => advance::<1>(&mut lanes),
            2 => advance::<2>(&mut lanes),
            3 => advance::<3>(&mut lanes),
            _ => advance::<4>(&mut lanes),
        }
        // The lanes out of whole blocks finish alone (at most two more blocks each);
        // their places go to the next slices.
        lanes.retain(|lane| {
            if lane.blocks_left() > 0 {
                return true;
            }
            out(lane.index, finish(lane.state, &lane.data[lane.done * 64..], lane.data.len() as u64));
            false
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MD5 of every slice, through the scalar lanes and (where the CPU has AVX2)
    /// the vector lanes; asserts that both agree.
    fn all(slices: &[&[u8]]) -> Vec<Md5> {
        let scalar = all_in(slices, false);
        #[cfg(target_arch = "x86_64")]
        if super::super::md5x8::available() {
            assert_eq!(all_in(slices, true), scalar, "vector lanes differ from scalar lanes");
        }
        scalar
    }

    fn all_in(slices: &[&[u8]], wide: bool) -> Vec<Md5> {
        let mut out = vec![None; slices.len()];
        md5_each_in(slices, wide, |i, h| {
            assert!(out[i].replace(h).is_none(), "slice {i} hashed twice");
        });
        out.into_iter().map(|h| h.expect("every slice hashed")).collect()
    }

    #[test]
    fn rfc1321_test_suite() {
        let cases: [(&[u8], &str); 7] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (b"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        let slices: Vec<&[u8]> = cases.iter().map(|c| c.0).collect();
        for (got, (_, want)) in all(&slices).iter().zip(cases) {
            assert_eq!(got.to_hex().to_lowercase(), want);
        }
    }

    #[test]
    fn matches_md5_crate_for_every_length_and_lane_mix() {
        let data: Vec<u8> = (0..70_100u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        // Every length around the padding boundaries, hashed 1 to 10 at a time (past
        // four scalar and eight vector lanes), with lengths mixed so lanes finish at
        // different times and are refilled.
        let lengths: Vec<usize> = (0..300).chain([511, 512, 513, 4096, 65_535, 65_536, 69_999]).collect();
        for group in 1..=10 {
            for window in lengths.chunks(group) {
                let slices: Vec<&[u8]> = window.iter().enumerate().map(|(k, &n)| &data[k..k + n]).collect();
                for (got, s) in all(&slices).iter().zip(&slices) {
                    assert_eq!(*got, Md5::of(s), "length {}", s.len());
                }
            }
        }
        let mixed: Vec<&[u8]> = lengths.iter().rev().map(|&n| &data[..n]).collect();
        for (got, s) in all(&mixed).iter().zip(&mixed) {
            assert_eq!(*got, Md5::of(s), "length {}", s.len());
        }
    }

    #[test]
    fn eight_equal_blocks_hash_like_the_md5_crate() {
        // The repair's case: whole 4 MiB-like blocks, all lanes busy to the end.
        let data: Vec<u8> = (0..8 * 65_536u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8).collect();
        let slices: Vec<&[u8]> = data.chunks(65_536).collect();
        for (got, s) in all(&slices).iter().zip(&slices) {
            assert_eq!(*got, Md5::of(s));
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_lanes_are_used_from_three_slices_when_the_cpu_has_avx2() {
        assert!(!use_wide(2));
        assert_eq!(use_wide(3), super::super::md5x8::available());
    }
}
