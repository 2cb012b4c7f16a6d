//! A fixed-size log-linear latency histogram (about 1.6 % resolution, nanoseconds up to
//! hours) so recording a sample is an index computation, never an allocation.

/// Values below this are counted exactly.
const LINEAR: u64 = 128;
/// Sub-buckets per power of two above `LINEAR`.
const SUB_BITS: u32 = 6;
const BUCKETS: usize = LINEAR as usize + (64 - 7) * (1 << SUB_BITS);

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= 7
    let sub = (v >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    LINEAR as usize + ((e - 7) as usize) * (1 << SUB_BITS) + sub as usize
}

/// The midpoint of bucket `i`.
fn value(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let k = i - LINEAR as usize;
    let e = (k >> SUB_BITS) as u32 + 7;
    let sub = (k & ((1 << SUB_BITS) - 1)) as u64;
    let low = ((1 << SUB_BITS) + sub) << (e - SUB_BITS);
    low + (1u64 << (e - SUB_BITS)) / 2
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.total += o.total;
        self.max = self.max.max(o.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0..=1); 0 for an empty histogram.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_resolution() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [
            (0.5, 50_000_000f64),
            (0.99, 99_000_000.0),
            (0.999, 99_900_000.0),
        ] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        for v in [0u64, 1, 127, 128, 129, 1 << 20, u64::MAX / 2] {
            let got = value(index(v)) as f64;
            assert!(v < 128 && got == v as f64 || (got - v as f64).abs() / (v as f64) < 0.02);
        }
    }
}
