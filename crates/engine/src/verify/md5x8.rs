//! MD5 of eight messages at once in AVX2 registers: each 256-bit register holds one
//! state word of eight lanes, so one instruction advances all eight. On the
//! development machine (AMD EPYC) this hashes 3.7 GB/s per core with all eight lanes
//! busy, against 1.3 GB/s for four scalar lanes (`lanes.rs`) and 0.5 GB/s for the
//! md-5 crate. Lanes left empty cost as much as busy ones, so `lanes.rs` uses this only
//! with at least [`MIN_LANES`] messages. Results are checked against the md-5 crate
//! in the tests of `lanes.rs`.
//!
//! The message words are loaded a block (64 bytes) per lane and transposed in
//! registers, 8 x 8 words at a time: gathers are far slower on AMD cores.

use super::lanes::K;
use std::arch::x86_64::*;

/// Messages below which the scalar lanes are faster (measured: two AVX2 lanes 0.9
/// GB/s against 1.06 for two scalar lanes; three about even; four 1.8 against 1.3).
pub(crate) const MIN_LANES: usize = 3;

/// Whether this CPU can run [`compress8`]; `std` caches the answer.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2")
}


macro_rules! step {
    ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident, $i:expr, $k:expr, $s:literal) => {
        $a = _mm256_add_epi32($a, _mm256_add_epi32($m[$i], _mm256_set1_epi32($k as i32)));
        $a = _mm256_add_epi32($a, step!(@$f $b, $c, $d));
        $a = _mm256_or_si256(_mm256_slli_epi32::<$s>($a), _mm256_srli_epi32::<{ 32 - $s }>($a));
        $a = _mm256_add_epi32($a, $b);
    };
    (@F $b:ident, $c:ident, $d:ident) => { _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256($c, $d), $b), $d) };
    (@G $b:ident, $c:ident, $d:ident) => { _mm256_add_epi32(_mm256_andnot_si256($d, $c), _mm256_and_si256($b, $d)) };
    (@H $b:ident, $c:ident, $d:ident) => { _mm256_xor_si256($b, _mm256_xor_si256($c, $d)) };
    (@I $b:ident, $c:ident, $d:ident) => { _mm256_xor_si256($c, _mm256_or_si256($b, _mm256_xor_si256($d, _mm256_set1_epi32(-1)))) };
}

macro_rules! round {
    ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident, $r:expr,
     [$i0:expr, $i1:expr, $i2:expr, $i3:expr, $i4:expr, $i5:expr, $i6:expr, $i7:expr,
      $i8:expr, $i9:expr, $i10:expr, $i11:expr, $i12:expr, $i13:expr, $i14:expr, $i15:expr],
     [$s0:literal, $s1:literal, $s2:literal, $s3:literal]) => {
        step!($f, $a, $b, $c, $d, $m, $i0, K[$r * 16], $s0);
        step!($f, $d, $a, $b, $c, $m, $i1, K[$r * 16 + 1], $s1);
        step!($f, $c, $d, $a, $b, $m, $i2, K[$r * 16 + 2], $s2);
        step!($f, $b, $c, $d, $a, $m, $i3, K[$r * 16 + 3], $s3);
        step!($f, $a, $b, $c, $d, $m, $i4, K[$r * 16 + 4], $s0);
        step!($f, $d, $a, $b, $c, $m, $i5, K[$r * 16 + 5], $s1);
        step!($f, $c, $d, $a, $b, $m, $i6, K[$r * 16 + 6], $s2);
        step!($f, $b, $c, $d, $a, $m, $i7, K[$r * 16 + 7], $s3);
        step!($f, $a, $b, $c, $d, $m, $i8, K[$r * 16 + 8], $s0);
        step!($f, $d, $a, $b, $c, $m, $i9, K[$r * 16 + 9], $s1);
        step!($f, $c, $d, $a, $b, $m, $i10, K[$r * 16 + 10], $s2);
        step!($f, $b, $c, $d, $a, $m, $i11, K[$r * 16 + 11], $s3);
        step!($f, $a, $b, $c, $d, $m, $i12, K[$r * 16 + 12], $s0);
        step!($f, $d, $a, $b, $c, $m, $i13, K[$r * 16 + 13], $s1);
        step!($f, $c, $d, $a, $b, $m, $i14, K[$r * 16 + 14], $s2);
        step!($f, $b, $c, $d, $a, $m, $i15, K[$r * 16 + 15], $s3);
    };
}

/// Transposes eight rows of eight 32-bit words: out[i] holds word i of every row.
#[inline(always)]
unsafe fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
    let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
    let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

/// Runs `blocks` 64-byte blocks of each of eight messages through their states;
/// `state[w]` holds word `w` of all eight lanes.
///
/// # Safety
/// [`available`] must have returned true, and each `data[l]` must point to at least
/// `blocks * 64` readable bytes.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn compress8(state: &mut [[u32; 8]; 4], data: [*const u8; 8], blocks: usize) {
    let mut sa = _mm256_loadu_si256(state[0].as_ptr().cast());
    let mut sb = _mm256_loadu_si256(state[1].as_ptr().cast());
    let mut sc = _mm256_loadu_si256(state[2].as_ptr().cast());
    let mut sd = _mm256_loadu_si256(state[3].as_ptr().cast());
    for n in 0..blocks {
        let off = n * 64;
        let lo: [__m256i; 8] = std::array::from_fn(|l| _mm256_loadu_si256(data[l].add(off).cast()));
        let hi: [__m256i; 8] = std::array::from_fn(|l| _mm256_loadu_si256(data[l].add(off + 32).cast()));
        let lo = transpose8(lo);
        let hi = transpose8(hi);
        let m = [lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7], hi[0], hi[1], hi[2], hi[3], hi[4], hi[5], hi[6], hi[7]];
        let (mut a, mut b, mut c, mut d) = (sa, sb, sc, sd);
        round!(F, a, b, c, d, m, 0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [7, 12, 17, 22]);
        round!(G, a, b, c, d, m, 1, [1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12], [5, 9, 14, 20]);
        round!(H, a, b, c, d, m, 2, [5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2], [4, 11, 16, 23]);
        round!(I, a, b, c, d, m, 3, [0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9], [6, 10, 15, 21]);
        sa = _mm256_add_epi32(sa, a);
        sb = _mm256_add_epi32(sb, b);
        sc = _mm256_add_epi32(sc, c);
        sd = _mm256_add_epi32(sd, d);
    }
    _mm256_storeu_si256(state[0].as_mut_ptr().cast(), sa);
    _mm256_storeu_si256(state[1].as_mut_ptr().cast(), sb);
    _mm256_storeu_si256(state[2].as_mut_ptr().cast(), sc);
    _mm256_storeu_si256(state[3].as_mut_ptr().cast(), sd);
}
