//! L1-regularised logistic regression on binary features, by coordinate descent with Newton
//! steps (the CDN method of liblinear's `L1R_LR`: Yuan, Chang, Hsieh and Lin, "A Comparison of
//! Optimization Methods and Software for Large-scale L1-regularized Linear Classification",
//! JMLR 2010), with an unregularised intercept.
//!
//! Minimises `sum_j |w_j| + l2/2 * sum_j w_j^2 + C * sum_i log(1 + exp(-y_i (b + o_i + sum_j w_j x_ij)))`
//! (`l2` = 0: the lasso; above 0: the elastic net, which keeps groups of correlated phrases
//! instead of one of each and generalises better, at the cost of more phrases) where
//! `x_ij` is 1 when feature `j` occurs in sample `i` (features are given as columns: the
//! samples each occurs in) and `o_i` is a fixed offset (pinned phrases). Deterministic: the
//! same input gives the same weights.

/// A fitted binary model: sparse weights (one per column) and the intercept.
#[derive(Debug, Clone)]
pub struct Fit {
    pub weights: Vec<f64>,
    pub bias: f64,
    pub sweeps: usize,
}

/// `log(1 + exp(-m))`, stable for large |m|.
fn loss(m: f64) -> f64 {
    if m > 0.0 {
        (-m).exp().ln_1p()
    } else {
        -m + m.exp().ln_1p()
    }
}

/// `1 / (1 + exp(m))`: minus the derivative of `loss` at `m`.
fn tau(m: f64) -> f64 {
    if m > 0.0 {
        let e = (-m).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + m.exp())
    }
}

/// Fit. `cols[j]`: the samples (ascending) in which feature `j` occurs; `y[i]`: the label;
/// `offset[i]`: added to sample `i`'s score; `c`: the loss weight (larger: less sparse).
pub fn fit<C: AsRef<[u32]>>(
    cols: &[C],
    y: &[bool],
    offset: &[f64],
    c: f64,
    max_sweeps: usize,
) -> Fit {
    fit_weighted(cols, y, offset, (c, c), max_sweeps)
}

/// [`fit`] with a loss weight for positive and for negative samples: `(c_pos, c_neg)`.
pub fn fit_weighted<C: AsRef<[u32]>>(
    cols: &[C],
    y: &[bool],
    offset: &[f64],
    (c_pos, c_neg): (f64, f64),
    max_sweeps: usize,
) -> Fit {
    let cs: Vec<f64> = y.iter().map(|&p| if p { c_pos } else { c_neg }).collect();
    fit_samples(cols, y, offset, &cs, 0.0, max_sweeps)
}

/// [`fit`] with a loss weight per sample (`cs[i]`; 0: the sample does not count, e.g. a row
/// without this target's label).
/// `l2`: the weight of the squared-weight penalty (0: pure L1).
pub fn fit_samples<C: AsRef<[u32]>>(
    cols: &[C],
    y: &[bool],
    offset: &[f64],
    cs: &[f64],
    l2: f64,
    max_sweeps: usize,
) -> Fit {
    let n = y.len();
    let ys: Vec<f64> = y.iter().map(|&p| if p { 1.0 } else { -1.0 }).collect();
    let mut w = vec![0.0f64; cols.len()];
    // m_i = y_i * score_i
    let counted = |p: bool| {
        y.iter()
            .zip(cs)
            .filter(|(&yi, &c)| yi == p && c > 0.0)
            .count() as f64
    };
    let (pos, neg) = (counted(true), counted(false));
    let mut b = if pos == 0.0 || neg == 0.0 {
        0.0
    } else {
        (pos / neg).ln()
    };
    let mut m: Vec<f64> = (0..n).map(|i| ys[i] * (b + offset[i])).collect();
    let mut active: Vec<bool> = vec![true; cols.len()];
    let mut first_violation = None;
    let mut sweeps = 0;
    let mut full = true;
    while sweeps < max_sweeps {
        sweeps += 1;
        let mut violation: f64 = 0.0;
        for j in 0..cols.len() {
            if !full && !active[j] {
                continue;
            }
            let col = cols[j].as_ref();
            if col.is_empty() {
                active[j] = false;
                continue;
            }
            let (mut g, mut h) = (0.0, 0.0);
            for &i in col {
                let i = i as usize;
                let t = tau(m[i]);
                g -= cs[i] * ys[i] * t;
                h += cs[i] * t * (1.0 - t);
            }
            let wj = w[j];
            g += l2 * wj;
            h += l2 + 1e-12;
            violation = violation.max(kkt_violation(g, wj));
            if wj == 0.0 && g.abs() < 0.9 {
                // Far inside the dead zone: skip it until the next full sweep.
                active[j] = false;
                continue;
            }
            active[j] = true;
            let d = newton_step(g, h, wj);
            if d.abs() < 1e-12 {
                continue;
            }
            let delta = g * d + (wj + d).abs() - wj.abs();
            let before: f64 = col
                .iter()
                .map(|&i| cs[i as usize] * loss(m[i as usize]))
                .sum::<f64>();
            let mut step = 1.0;
            let mut accepted = false;
            for _ in 0..20 {
                let nw = wj + step * d;
                let after: f64 = col
                    .iter()
                    .map(|&i| cs[i as usize] * loss(m[i as usize] + ys[i as usize] * step * d))
                    .sum::<f64>();
                let penalty = nw.abs() - wj.abs() + 0.5 * l2 * (nw * nw - wj * wj);
                if after - before + penalty <= 0.01 * step * delta {
                    accepted = true;
                    break;
                }
                step *= 0.5;
            }
            if !accepted {
                continue;
            }
            let dw = step * d;
            w[j] = wj + dw;
            if w[j].abs() < 1e-12 {
                w[j] = 0.0;
            }
            for &i in col {
                let i = i as usize;
                m[i] += ys[i] * dw;
            }
        }
        // The intercept: one Newton step on all samples, with backtracking.
        let (mut g, mut h) = (0.0, 0.0);
        for i in 0..n {
            let t = tau(m[i]);
            g -= cs[i] * ys[i] * t;
            h += cs[i] * t * (1.0 - t);
        }
        h += 1e-12;
        let d = -g / h;
        let before: f64 = (0..n).map(|i| cs[i] * loss(m[i])).sum::<f64>();
        let mut step = 1.0;
        for _ in 0..20 {
            let after: f64 = (0..n)
                .map(|i| cs[i] * loss(m[i] + ys[i] * step * d))
                .sum::<f64>();
            if after - before <= 0.01 * step * g * d {
                b += step * d;
                for i in 0..n {
                    m[i] += ys[i] * step * d;
                }
                break;
            }
            step *= 0.5;
        }
        let first = *first_violation.get_or_insert(violation.max(1e-9));
        let converged = violation <= 0.01 * first;
        if full && converged {
            break;
        }
        // A sweep over the active set only, then a full one to check, every few sweeps.
        full = converged || sweeps % 8 == 0;
    }
    Fit {
        weights: w,
        bias: b,
        sweeps,
    }
}

/// A fitted multinomial (softmax) model: per class, sparse weights (one per column) and the
/// intercept.
#[derive(Debug, Clone)]
pub struct MultiFit {
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
    pub sweeps: usize,
}

/// Multinomial (softmax) logistic regression with the elastic net, by coordinate descent with
/// Newton steps, one (feature, class) weight at a time (as [`fit_samples`] does for one class).
///
/// Minimises `sum_jk |w_jk| + l2/2 * sum_jk w_jk^2 + sum_i cs_i * (log Z_i - s_i,y_i)` where
/// `s_ik = b_k + o_ik + sum_j w_jk x_ij` and `Z_i = [reference] + sum_k exp(s_ik)`. `class[i]`:
/// sample `i`'s class, `None` for the reference class (a class whose score is fixed at 0: the
/// texts of no intent; only when `reference`). `offset[i * k + c]`: added to sample `i`'s
/// score of class `c`. `allowed[c][j]`: whether class `c` may weigh feature `j` (vetoes).
/// Every class's decision is the same form as a binary model's (bias + weights), so the
/// argmax of the scores (and the reference's 0) is the softmax's decision.
#[allow(clippy::too_many_arguments)]
pub fn fit_multinomial<C: AsRef<[u32]>>(
    cols: &[C],
    class: &[Option<usize>],
    k: usize,
    reference: bool,
    offset: &[f64],
    allowed: &[Vec<bool>],
    cs: &[f64],
    l2: f64,
    max_sweeps: usize,
) -> MultiFit {
    let n = class.len();
    let nf = cols.len();
    let is = |i: usize, c: usize| class[i] == Some(c);
    // Intercepts: the log of each class's share (against the reference, or centred).
    let mut counts = vec![0.0f64; k + 1];
    for i in 0..n {
        if cs[i] > 0.0 {
            counts[class[i].unwrap_or(k)] += cs[i];
        }
    }
    let total: f64 = counts.iter().sum::<f64>().max(1e-12);
    let mut b: Vec<f64> = (0..k)
        .map(|c| ((counts[c] + 1.0) / (total + 1.0)).ln())
        .collect();
    if reference {
        let r = ((counts[k] + 1.0) / (total + 1.0)).ln();
        for x in &mut b {
            *x -= r;
        }
    }
    let mut w = vec![vec![0.0f64; nf]; k];
    // s[i*k + c], e = exp(s), z[i] = sum of e (+1 with the reference).
    let mut s: Vec<f64> = (0..n * k).map(|x| b[x % k] + offset[x]).collect();
    let mut e: Vec<f64> = s.iter().map(|v| v.exp()).collect();
    let ref_z = if reference { 1.0 } else { 0.0 };
    let rez = |e: &[f64], z: &mut Vec<f64>| {
        for (zi, row) in z.iter_mut().zip(e.chunks(k)) {
            *zi = ref_z + row.iter().sum::<f64>();
        }
    };
    let mut z = vec![0.0f64; n];
    rez(&e, &mut z);
    let mut active = vec![true; nf * k];
    let mut first_violation = None;
    let mut sweeps = 0;
    let mut full = true;
    // Loss change of the samples `idx` when class c's score moves by `d`.
    let delta_loss =
        |idx: &mut dyn Iterator<Item = usize>, c: usize, d: f64, e: &[f64], z: &[f64]| -> f64 {
            let ed = d.exp() - 1.0;
            let mut acc = 0.0;
            for i in idx {
                if cs[i] == 0.0 {
                    continue;
                }
                let nz = z[i] + e[i * k + c] * ed;
                let mut l = (nz / z[i]).ln();
                if is(i, c) {
                    l -= d;
                }
                acc += cs[i] * l;
            }
            acc
        };
    while sweeps < max_sweeps {
        sweeps += 1;
        let mut violation: f64 = 0.0;
        for j in 0..nf {
            let col = cols[j].as_ref();
            for c in 0..k {
                let a = j * k + c;
                if !full && !active[a] {
                    continue;
                }
                if col.is_empty() || !allowed[c][j] {
                    active[a] = false;
                    continue;
                }
                let (mut g, mut h) = (0.0, 0.0);
                for &i in col {
                    let i = i as usize;
                    if cs[i] == 0.0 {
                        continue;
                    }
                    let p = e[i * k + c] / z[i];
                    g += cs[i] * (p - if is(i, c) { 1.0 } else { 0.0 });
                    h += cs[i] * p * (1.0 - p);
                }
                let wj = w[c][j];
                g += l2 * wj;
                h += l2 + 1e-12;
                violation = violation.max(kkt_violation(g, wj));
                if wj == 0.0 && g.abs() < 0.9 {
                    active[a] = false;
                    continue;
                }
                active[a] = true;
                let d = newton_step(g, h, wj);
                if d.abs() < 1e-12 {
                    continue;
                }
                let delta = g * d + (wj + d).abs() - wj.abs();
                let mut step = 1.0;
                let mut accepted = false;
                for _ in 0..20 {
                    let nw = wj + step * d;
                    let dl = delta_loss(&mut col.iter().map(|&i| i as usize), c, step * d, &e, &z);
                    let penalty = nw.abs() - wj.abs() + 0.5 * l2 * (nw * nw - wj * wj);
                    if dl + penalty <= 0.01 * step * delta {
                        accepted = true;
                        break;
                    }
                    step *= 0.5;
                }
                if !accepted {
                    continue;
                }
                let dw = step * d;
                let mut nw = wj + dw;
                if nw.abs() < 1e-12 {
                    nw = 0.0;
                }
                let dw = nw - wj;
                w[c][j] = nw;
                let f = dw.exp();
                for &i in col {
                    let x = i as usize * k + c;
                    let old = e[x];
                    s[x] += dw;
                    e[x] = old * f;
                    z[i as usize] += e[x] - old;
                }
            }
        }
        // The intercepts: a Newton step each, on all samples, with backtracking.
        for c in 0..k {
            let (mut g, mut h) = (0.0, 0.0);
            for i in 0..n {
                if cs[i] == 0.0 {
                    continue;
                }
                let p = e[i * k + c] / z[i];
                g += cs[i] * (p - if is(i, c) { 1.0 } else { 0.0 });
                h += cs[i] * p * (1.0 - p);
            }
            h += 1e-12;
            let d = -g / h;
            let mut step = 1.0;
            for _ in 0..20 {
                let dl = delta_loss(&mut (0..n), c, step * d, &e, &z);
                if dl <= 0.01 * step * g * d {
                    let dw = step * d;
                    b[c] += dw;
                    let f = dw.exp();
                    for (i, zi) in z.iter_mut().enumerate() {
                        let x = i * k + c;
                        let old = e[x];
                        s[x] += dw;
                        e[x] = old * f;
                        *zi += e[x] - old;
                    }
                    break;
                }
                step *= 0.5;
            }
        }
        // Exact sums again (the running updates drift).
        for x in 0..n * k {
            e[x] = s[x].exp();
        }
        rez(&e, &mut z);
        let first = *first_violation.get_or_insert(violation.max(1e-9));
        let converged = violation <= 0.01 * first;
        if full && converged {
            break;
        }
        full = converged || sweeps % 8 == 0;
    }
    MultiFit {
        weights: w,
        bias: b,
        sweeps,
    }
}

/// How far weight `wj` is from optimal for the L1 term (unit strength), given the smooth part's
/// gradient `g` there: 0 at an optimum (the subgradient condition).
fn kkt_violation(g: f64, wj: f64) -> f64 {
    if wj > 0.0 {
        (g + 1.0).abs()
    } else if wj < 0.0 {
        (g - 1.0).abs()
    } else {
        (g.abs() - 1.0).max(0.0)
    }
}

/// The Newton step of weight `wj` with the L1 term's soft threshold, given the smooth part's
/// gradient `g` and curvature `h` there (`-wj`: to zero).
fn newton_step(g: f64, h: f64, wj: f64) -> f64 {
    if g + 1.0 <= h * wj {
        -(g + 1.0) / h
    } else if g - 1.0 >= h * wj {
        -(g - 1.0) / h
    } else {
        -wj
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The subgradient optimality condition of the objective (with `l2`, the elastic net's), at
    /// every weight and the intercept.
    fn max_violation(cols: &[Vec<u32>], y: &[bool], c: f64, l2: f64, fit: &Fit) -> f64 {
        let n = y.len();
        let mut score = vec![fit.bias; n];
        for (j, col) in cols.iter().enumerate() {
            for &i in col {
                score[i as usize] += fit.weights[j];
            }
        }
        let ys = |i: usize| if y[i] { 1.0 } else { -1.0 };
        let mut worst: f64 = 0.0;
        for (j, col) in cols.iter().enumerate() {
            let g: f64 = col
                .iter()
                .map(|&i| -ys(i as usize) * tau(ys(i as usize) * score[i as usize]))
                .sum::<f64>()
                * c
                + l2 * fit.weights[j];
            let w = fit.weights[j];
            let v = if w > 0.0 {
                (g + 1.0).abs()
            } else if w < 0.0 {
                (g - 1.0).abs()
            } else {
                (g.abs() - 1.0).max(0.0)
            };
            worst = worst.max(v);
        }
        let gb: f64 = (0..n).map(|i| -ys(i) * tau(ys(i) * score[i])).sum::<f64>() * c;
        worst.max(gb.abs())
    }

    /// Samples from a few features: feature 0 says yes, feature 1 says no, 2 is noise.
    fn toy() -> (Vec<Vec<u32>>, Vec<bool>) {
        let mut cols = vec![Vec::new(), Vec::new(), Vec::new()];
        let mut y = Vec::new();
        for i in 0..200u32 {
            let yes = i % 3 == 0;
            // Mostly, but not always, the informative feature agrees with the label.
            if (yes && i % 7 != 0) || (!yes && i % 11 == 0) {
                cols[0].push(i);
            }
            if !yes && i % 2 == 0 {
                cols[1].push(i);
            }
            if i % 5 == 0 {
                cols[2].push(i);
            }
            y.push(yes);
        }
        (cols, y)
    }

    #[test]
    fn finds_the_signs_and_meets_the_optimality_conditions() {
        let (cols, y) = toy();
        let fit = fit(&cols, &y, &vec![0.0; y.len()], 1.0, 200);
        assert!(fit.weights[0] > 1.0, "{:?}", fit.weights);
        assert!(fit.weights[1] < 0.0, "{:?}", fit.weights);
        assert!(max_violation(&cols, &y, 1.0, 0.0, &fit) < 0.05, "{fit:?}");
    }

    #[test]
    fn stronger_regularisation_is_sparser() {
        let (cols, y) = toy();
        let zero = vec![0.0; y.len()];
        let loose = fit(&cols, &y, &zero, 10.0, 200);
        let tight = fit(&cols, &y, &zero, 0.02, 200);
        let nz = |f: &Fit| f.weights.iter().filter(|w| **w != 0.0).count();
        assert!(nz(&tight) < nz(&loose), "{tight:?} {loose:?}");
        assert!(tight.weights[2] == 0.0);
    }

    #[test]
    fn an_offset_takes_the_place_of_a_weight() {
        // With feature 0's effect given as an offset, its own weight is not needed.
        let (cols, y) = toy();
        let free = fit(&cols, &y, &vec![0.0; y.len()], 1.0, 200);
        let mut offset = vec![0.0; y.len()];
        for &i in &cols[0] {
            offset[i as usize] = free.weights[0];
        }
        let pinned = fit(&cols[1..], &y, &offset, 1.0, 200);
        assert!(
            (pinned.weights[0] - free.weights[1]).abs() < 0.05,
            "{pinned:?} {free:?}"
        );
    }

    #[test]
    fn a_sample_of_weight_zero_does_not_count() {
        // Samples 200.. contradict the data but weigh nothing: the fit is the toy's own.
        let (mut cols, mut y) = toy();
        let base = fit(&cols, &y, &vec![0.0; y.len()], 1.0, 200);
        for i in 200..300u32 {
            cols[0].push(i);
            y.push(false);
        }
        let mut cs = vec![1.0; 200];
        cs.extend([0.0; 100]);
        let masked = fit_samples(&cols, &y, &vec![0.0; y.len()], &cs, 0.0, 200);
        assert_eq!(masked.weights, base.weights);
        assert!(
            (masked.bias - base.bias).abs() < 1e-9,
            "{masked:?} {base:?}"
        );
        // Counted, they pull feature 0 down.
        let counted = fit(&cols, &y, &vec![0.0; y.len()], 1.0, 200);
        assert!(counted.weights[0] < base.weights[0] - 0.5, "{counted:?}");
    }

    /// With an L2 term the optimality conditions include it, and exact copies of a feature
    /// share the weight evenly.
    #[test]
    fn the_elastic_net_meets_its_conditions_and_shares_weight() {
        let (mut cols, y) = toy();
        cols.push(cols[0].clone()); // feature 3: an exact copy of feature 0
        let zero = vec![0.0; y.len()];
        let cs = vec![1.0; y.len()];
        let lasso = fit_samples(&cols, &y, &zero, &cs, 0.0, 500);
        let net = fit_samples(&cols, &y, &zero, &cs, 1.0, 500);
        // Coordinate descent leaves the lasso's split of the pair's weight lopsided (any split
        // is optimal); the net's optimum is the even split, which it nears.
        assert!(
            (lasso.weights[0] - lasso.weights[3]).abs() > 1.0,
            "{lasso:?}"
        );
        assert!(net.weights[0] > 0.1 && net.weights[3] > 0.1, "{net:?}");
        assert!((net.weights[0] - net.weights[3]).abs() < 0.3, "{net:?}");
        // The solver stops at 1% of the first sweep's violation (liblinear's rule).
        let v = max_violation(&cols, &y, 1.0, 1.0, &net);
        assert!(v < 0.3, "violation {v} ({net:?})");
    }

    /// The subgradient optimality conditions of the softmax objective (with the elastic net's
    /// L2 term), at every weight and intercept.
    fn multi_violation(
        cols: &[Vec<u32>],
        class: &[Option<usize>],
        k: usize,
        reference: bool,
        l2: f64,
        fit: &MultiFit,
    ) -> f64 {
        let n = class.len();
        let mut p = vec![vec![0.0; k]; n];
        for (i, pi) in p.iter_mut().enumerate() {
            let mut s = fit.bias.clone();
            for (j, col) in cols.iter().enumerate() {
                if col.contains(&(i as u32)) {
                    for (sc, w) in s.iter_mut().zip(&fit.weights) {
                        *sc += w[j];
                    }
                }
            }
            let z: f64 = s.iter().map(|v| v.exp()).sum::<f64>() + if reference { 1.0 } else { 0.0 };
            for (pc, sc) in pi.iter_mut().zip(&s) {
                *pc = sc.exp() / z;
            }
        }
        let r = |i: usize, c: usize| p[i][c] - if class[i] == Some(c) { 1.0 } else { 0.0 };
        let mut worst: f64 = 0.0;
        for c in 0..k {
            for (j, col) in cols.iter().enumerate() {
                let g = col.iter().map(|&i| r(i as usize, c)).sum::<f64>() + l2 * fit.weights[c][j];
                let w = fit.weights[c][j];
                let v = if w > 0.0 {
                    (g + 1.0).abs()
                } else if w < 0.0 {
                    (g - 1.0).abs()
                } else {
                    (g.abs() - 1.0).max(0.0)
                };
                worst = worst.max(v);
            }
            let gb: f64 = (0..n).map(|i| r(i, c)).sum();
            worst = worst.max(gb.abs());
        }
        worst
    }

    /// Three classes and a reference (no class): feature c says class c, feature 3 is noise.
    fn toy3() -> (Vec<Vec<u32>>, Vec<Option<usize>>) {
        let mut cols = vec![Vec::new(); 4];
        let mut class = Vec::new();
        for i in 0..300u32 {
            let c = match i % 4 {
                3 => None,
                c => Some(c as usize),
            };
            for (f, col) in cols.iter_mut().enumerate().take(3) {
                // Mostly, not always, the class's feature; sometimes another's.
                if (c == Some(f) && i % 9 != 0) || (c != Some(f) && i % 13 == f as u32) {
                    col.push(i);
                }
            }
            if i % 5 == 0 {
                cols[3].push(i);
            }
            class.push(c);
        }
        (cols, class)
    }

    #[test]
    fn the_softmax_finds_each_class_and_meets_its_conditions() {
        let (cols, class) = toy3();
        let n = class.len();
        let allowed = vec![vec![true; cols.len()]; 3];
        for l2 in [0.0, 1.0] {
            let fit = fit_multinomial(
                &cols,
                &class,
                3,
                true,
                &vec![0.0; n * 3],
                &allowed,
                &vec![1.0; n],
                l2,
                500,
            );
            for c in 0..3 {
                // Its own feature raises a class over the others and over the reference.
                for o in 0..3 {
                    if o != c {
                        assert!(fit.weights[c][c] > fit.weights[o][c] + 1.0, "{fit:?}");
                    }
                }
                assert!(fit.bias[c] + fit.weights[c][c] > 0.0, "{fit:?}");
                assert!(fit.bias[c] < 0.0, "{fit:?}");
            }
            let v = multi_violation(&cols, &class, 3, true, l2, &fit);
            assert!(v < 0.5, "violation {v} (l2 {l2}) {fit:?}");
        }
    }

    /// A vetoed (class, feature) keeps weight 0; a sample of weight 0 does not count; the fit is
    /// deterministic.
    #[test]
    fn the_softmax_keeps_vetoes_and_masks() {
        let (mut cols, mut class) = toy3();
        let n = class.len();
        let mut allowed = vec![vec![true; cols.len()]; 3];
        allowed[1][1] = false;
        let fit = |cols: &[Vec<u32>], class: &[Option<usize>], cs: &[f64]| {
            fit_multinomial(
                cols,
                class,
                3,
                true,
                &vec![0.0; class.len() * 3],
                &allowed,
                cs,
                0.5,
                500,
            )
        };
        let base = fit(&cols, &class, &vec![1.0; n]);
        assert_eq!(base.weights[1][1], 0.0);
        assert!(base.weights[0][0] > 1.0, "{base:?}");
        let again = fit(&cols, &class, &vec![1.0; n]);
        assert_eq!(base.weights, again.weights);
        assert_eq!(base.bias, again.bias);
        // 100 contradicting samples of weight 0 change nothing.
        for i in n as u32..n as u32 + 100 {
            cols[0].push(i);
            class.push(Some(2));
        }
        let mut cs = vec![1.0; n];
        cs.extend([0.0; 100]);
        let masked = fit(&cols, &class, &cs);
        assert_eq!(masked.weights, base.weights);
        // Counted, they pull class 0's feature toward class 2.
        let counted = fit(&cols, &class, &vec![1.0; n + 100]);
        assert!(
            counted.weights[2][0] > base.weights[2][0] + 0.5,
            "{counted:?}"
        );
    }

    #[test]
    fn deterministic() {
        let (cols, y) = toy();
        let zero = vec![0.0; y.len()];
        let a = fit(&cols, &y, &zero, 1.0, 200);
        let b = fit(&cols, &y, &zero, 1.0, 200);
        assert_eq!(a.weights, b.weights);
        assert_eq!(a.bias, b.bias);
    }
}
