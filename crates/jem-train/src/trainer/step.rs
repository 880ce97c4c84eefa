//! One training iteration: positive phase (with imputation of unobserved labels), negative
//! phase (replay buffer + joint chains), one forward and backward over both, optimiser and EMA.

use super::{iteration_seed, IterationReport, Trainer};
use crate::conditional::{conditional_pseudo_log_likelihood, group_log_likelihood_from_gradient};
use crate::kernels::AnyDiscrete;
use crate::negative::expected_log_density;
use crate::optim::{ema_update, scheduled_lr};
use ebm_core::Batch;
use ebm_core::{eval::select_rows, Error, JointEnergy, JointState, Result};
use mwg::SweepDiagnostics;
use tch::{Kind, Tensor};

impl<M: JointEnergy> Trainer<M> {
    /// One training iteration on `batch` (`x` `[B, …]` of the model's shape and float kind,
    /// `y` `[B, D]`, `observed` `[B, V]` bool; any device: moved to the trainer's). Returns its
    /// report. A malformed batch is an error, not a panic.
    pub fn step(&mut self, batch: &Batch) -> Result<IterationReport> {
        self.check_batch(batch)?;
        let it = self.ema.iteration;
        tch::manual_seed(iteration_seed(self.rank_seed(), it, 0));
        let cfg = self.ema.config.clone();
        let lr = scheduled_lr(
            cfg.lr,
            cfg.warmup_iters,
            cfg.lr_decay_from,
            cfg.lr_decay_final,
            cfg.iterations,
            it,
        );
        let mut x_pos = batch.x.to_device(self.device);
        if cfg.data_noise > 0.0 {
            // The noise-convolved data density (`data_noise`): fresh N(0, σ²) per iteration.
            x_pos = &x_pos + x_pos.randn_like() * cfg.data_noise;
        }
        let mut y_pos = batch.y.to_device(self.device);
        let mut observed = batch.observed.as_ref().map(|o| o.to_device(self.device));
        // Rows of the batch: all serve the conditional term; with `cond_batch_size` set, only
        // the first `batch_size` serve the positive phase.
        let b_all = x_pos.size()[0];
        if cfg.bit_dropout > 0.0 {
            // Bit dropout: the bits of some rows count as unobserved for this iteration, so
            // the positive phase imputes them below (the groups stay observed).
            let all = || {
                Tensor::ones(
                    [b_all, self.layout.num_vars() as i64],
                    (Kind::Bool, self.device),
                )
            };
            let obs = observed.take().unwrap_or_else(all);
            let rows = Tensor::rand([b_all, 1], (Kind::Float, self.device)).lt(cfg.bit_dropout);
            let bits = group_variables(&self.layout, self.device)
                .logical_not()
                .view([1, -1]);
            observed = Some(obs.logical_and(&rows.logical_and(&bits).logical_not()));
        }
        let b = if cfg.cond_batch_size > 0 {
            b_all.min(cfg.batch_size)
        } else {
            b_all
        };

        self.vs.freeze();
        // (x⁻, y⁻, diagnostics, the conditional term's chains, the conditional negatives' rows)
        type Sampled = (
            Tensor,
            Tensor,
            SweepDiagnostics,
            Option<Vec<Tensor>>,
            Option<Tensor>,
        );
        let sampled = (|| -> Result<Sampled> {
            // Positive phase: impute unobserved labels with the observed ones clamped, on the
            // rows that have any (each row's chain is independent of the others, so the
            // complete rows need none; one host read of their count per iteration).
            if let Some(obs) = &observed {
                let rows = obs.logical_not().any_dim(1, false).nonzero().view([-1]);
                if rows.size()[0] > 0 {
                    let obs_r = obs.index_select(0, &rows);
                    let y_r = y_pos.index_select(0, &rows);
                    let cols = ebm_core::ColumnMaps::for_layout(&self.layout, self.device);
                    let free_cols = cols.expand_var_mask(&obs_r.logical_not());
                    let noise = self.ema.y_init.sample(
                        &self.layout,
                        rows.size()[0],
                        self.device,
                        y_pos.kind(),
                    )?;
                    let y0 = noise.where_self(&free_cols, &y_r);
                    let state =
                        JointState::new_trusted(&self.model, &x_pos.index_select(0, &rows), &y0)?
                            .with_fixed_y(&obs_r)?;
                    let kernel = AnyDiscrete::from_config(&self.ema.config)?;
                    let imputed = mwg::run_discrete(
                        &kernel,
                        &self.model,
                        state,
                        self.ema.config.impute_steps,
                    )?
                    .into_xy()
                    .1;
                    y_pos = y_pos.index_copy(0, &rows, &imputed.to_kind(y_pos.kind()));
                }
            }
            // Negative phase.
            let persistent = cfg.conditional_persistent
                && cfg.conditional_negatives > 0.0
                && b == cfg.batch_size;
            let (draw, conditional_count) = if persistent {
                self.draw_persistent(&cfg)?
            } else {
                let draw = self.ema.buffer.draw(
                    cfg.batch_size,
                    cfg.reinit_prob,
                    &self.ema.x_init,
                    &self.ema.y_init,
                    &self.layout,
                )?;
                (draw, 0)
            };
            let (mut x0, mut y0) = (draw.x, draw.y);
            // Rows that start afresh this iteration (a persistent conditional chain takes
            // this batch's groups then).
            let mut restarted = draw.reinit;
            if cfg.data_reinit_prob > 0.0 && b == cfg.batch_size {
                // Restart some chains at this batch's data points, labels from q₀(y).
                let m = Tensor::rand([b], (Kind::Float, self.device)).lt(cfg.data_reinit_prob);
                let y_q0 = self
                    .ema
                    .y_init
                    .sample(&self.layout, b, self.device, y0.kind())?;
                let x_data = x_pos.narrow(0, 0, b).to_kind(x0.kind());
                x0 = select_rows(&m, &x_data, &x0);
                y0 = select_rows(&m, &y_q0, &y0);
                restarted = restarted.logical_or(&m);
            }
            let mut fixed = None;
            let mut conditional_rows = None;
            if persistent {
                // Persistent conditional chains: the first rows, drawn from the conditional
                // slots, keep the groups they hold, except those starting afresh, which take
                // this batch's (a draw of the data's groups).
                let m = Tensor::arange(b, (Kind::Int64, self.device))
                    .lt(conditional_count)
                    .view([-1, 1]);
                let is_group = group_variables(&self.layout, self.device).view([1, -1]);
                let cols = ebm_core::ColumnMaps::for_layout(&self.layout, self.device);
                if cfg.conditional_reinit_prob > 0.0 {
                    let fresh;
                    (x0, y0, fresh) =
                        self.restart_some(&m, cfg.conditional_reinit_prob, &x0, &y0)?;
                    restarted = restarted.logical_or(&fresh);
                }
                let new_groups = restarted
                    .view([-1, 1])
                    .logical_and(&m)
                    .logical_and(&is_group);
                let take = cols.expand_var_mask(&new_groups); // [b, D]
                y0 = y_pos
                    .narrow(0, 0, b)
                    .to_kind(y0.kind())
                    .where_self(&take, &y0);
                fixed = Some(m.logical_and(&is_group));
                conditional_rows = Some(m.view([-1]));
            } else if cfg.conditional_negatives > 0.0 && b == cfg.batch_size {
                // Conditional negatives: some chains take this batch's categorical groups,
                // clamped (`conditional_negatives`); their bits and `x` move.
                let m = Tensor::rand([b], (Kind::Float, self.device))
                    .lt(cfg.conditional_negatives)
                    .view([-1, 1]);
                let is_group = group_variables(&self.layout, self.device).view([1, -1]);
                let f = m.logical_and(&is_group); // [b, V]
                let cols = ebm_core::ColumnMaps::for_layout(&self.layout, self.device);
                let take = cols.expand_var_mask(&f); // [b, D]
                if cfg.conditional_reinit_prob > 0.0 {
                    // Some conditional chains start afresh from p₀(x) q₀(bits).
                    (x0, y0, _) = self.restart_some(&m, cfg.conditional_reinit_prob, &x0, &y0)?;
                }
                y0 = y_pos
                    .narrow(0, 0, b)
                    .to_kind(y0.kind())
                    .where_self(&take, &y0);
                fixed = Some(f);
                conditional_rows = Some(m.view([-1]));
            }
            let mut state = JointState::new_trusted(&self.model, &x0, &y0)?;
            if let Some(f) = &fixed {
                state = state.with_fixed_y(f)?;
            }
            let mut diag = SweepDiagnostics::default();
            let state = self
                .sampler()?
                .run(&self.model, state, cfg.sweeps, &mut diag)?;
            self.ema
                .buffer
                .write_back(&draw.index, state.x(), state.y());
            let (x, y) = state.into_xy();
            // The sampled conditional term: short-run chains on y given x⁺ from q₀(y) — over
            // all of y, or one chain per block (groups | bits⁺, bits | groups⁺).
            let y_cond = if cfg.cond_weight > 0.0 && cfg.cond_steps > 0 {
                let kernel = AnyDiscrete::from_config(&crate::TrainConfig {
                    y_sampler: cfg.predict_y_sampler.unwrap_or(cfg.y_sampler),
                    ..cfg.clone()
                })?;
                let groups = self.layout.groups().len() as i64;
                let vars = self.layout.num_vars() as i64;
                let is_bit = group_variables(&self.layout, self.device).logical_not();
                let fixed: Vec<Option<Tensor>> = if cfg.cond_split && groups > 0 && groups < vars {
                    vec![Some(is_bit.shallow_clone()), Some(is_bit.logical_not())]
                } else {
                    vec![None]
                };
                let cols = ebm_core::ColumnMaps::for_layout(&self.layout, self.device);
                let mut chains = Vec::with_capacity(fixed.len());
                for f in fixed {
                    let noise =
                        self.ema
                            .y_init
                            .sample(&self.layout, b, self.device, y_pos.kind())?;
                    let state = match &f {
                        None => JointState::new_trusted(&self.model, &x_pos, &noise)?,
                        Some(f) => {
                            let free_cols = cols.expand_var_mask(&f.logical_not()).view([1, -1]);
                            let y0 = noise.where_self(&free_cols, &y_pos);
                            JointState::new_trusted(&self.model, &x_pos, &y0)?.with_fixed_y(f)?
                        }
                    };
                    chains.push(
                        mwg::run_discrete(&kernel, &self.model, state, cfg.cond_steps)?
                            .into_xy()
                            .1,
                    );
                }
                Some(chains)
            } else {
                None
            };
            Ok((x, y, diag, y_cond, conditional_rows))
        })();
        self.vs.unfreeze();
        let (x_neg, y_neg, diag, y_cond, conditional_rows) = sampled?;

        // One forward for both phases (the energies treat rows independently), so the weights'
        // backward runs once over 2B rows instead of twice over B.
        // With the sampled conditional term, a third block (x⁺, y^c) joins the same forward.
        // Rows 0..b are the positive phase, b..b_all only the conditional term's.
        let mut xs = vec![x_pos.shallow_clone(), x_neg.to_kind(x_pos.kind())];
        let mut ys = vec![y_pos.shallow_clone(), y_neg.to_kind(y_pos.kind())];
        for yc in y_cond.iter().flatten() {
            xs.push(x_pos.shallow_clone());
            ys.push(yc.to_kind(y_pos.kind()));
        }
        let x_all = Tensor::cat(&xs, 0);
        let y_all = Tensor::cat(&ys, 0);
        let h_all = self.model.features(&x_all);
        let h_all = h_all.as_ref().unwrap_or(&x_all);
        let f_all = self.model.log_density_from_features(h_all, &y_all);
        let f_pos = f_all.narrow(0, 0, b);
        let n_neg = x_neg.size()[0];
        let f_neg = f_all.narrow(0, b_all, n_neg);
        let neg_term = match &self.all_y {
            None => f_neg.mean(Kind::Float),
            Some(all_y) => {
                let h_neg = h_all.narrow(0, b_all, n_neg);
                expected_log_density(&self.model, &h_neg, &all_y.to_kind(y_pos.kind()))
                    .mean(Kind::Float)
            }
        };
        let mut loss = -(f_pos.mean(Kind::Float) - neg_term);
        if self.ema.config.l2_energy > 0.0 {
            let l2 = (&f_pos * &f_pos).mean(Kind::Float) + (&f_neg * &f_neg).mean(Kind::Float);
            loss += l2 * self.ema.config.l2_energy;
        }
        let cond_ll = if let Some(chains) = &y_cond {
            // Σ_blocks (f(x⁺, y⁺) − f(x⁺, y^c)): an estimate of the conditional
            // log-likelihood of y⁺ given x⁺ (per block) up to its constant.
            let mut ll = Tensor::zeros([], (Kind::Float, self.device));
            for k in 0..chains.len() as i64 {
                // cond_steps > 0 rules out cond_batch_size (validated): b = b_all here.
                let f_cond = f_all.narrow(0, b_all + n_neg + k * b, b);
                ll += (&f_pos - &f_cond).mean(Kind::Float);
            }
            loss -= &ll * self.ema.config.cond_weight;
            ll.detach()
        } else if self.ema.config.cond_weight > 0.0 {
            let h_pos = h_all.narrow(0, 0, b_all);
            let ll = if self.ema.config.cond_from_gradient {
                group_log_likelihood_from_gradient(&self.model, &h_pos, &y_pos, observed.as_ref())
            } else {
                conditional_pseudo_log_likelihood(&self.model, &h_pos, &y_pos, observed.as_ref())
            }
            .mean(Kind::Float);
            loss -= &ll * self.ema.config.cond_weight;
            ll.detach()
        } else {
            Tensor::zeros([], (Kind::Float, self.device))
        };
        // With conditional negatives, also Σ f and the number of chains of each kind (joint,
        // conditional), read with the others (no extra synchronisation) and divided after any
        // all-reduce, so that ranks pool their chains; always four entries, so that every
        // rank reduces a vector of the same length.
        let mut parts = vec![
            loss.detach().to_kind(Kind::Double),
            f_pos.detach().mean(Kind::Double),
            f_neg.detach().mean(Kind::Double),
            cond_ll.to_kind(Kind::Double),
        ];
        if cfg.conditional_negatives > 0.0 {
            let f = f_neg.detach().to_kind(Kind::Double);
            let m = match &conditional_rows {
                Some(m) => m.to_kind(Kind::Double),
                None => f.zeros_like(),
            };
            let joint = 1.0 - &m;
            parts.extend([
                (&f * &joint).sum(Kind::Double),
                joint.sum(Kind::Double),
                (&f * &m).sum(Kind::Double),
                m.sum(Kind::Double),
            ]);
        }
        let values = Tensor::stack(&parts, 0);
        // Data-parallel: every rank judges divergence on the same (averaged) figures.
        let values = match self.session.group {
            None => Vec::<f64>::try_from(values)?,
            Some(_) => {
                let v = values.to_device(tch::Device::Cpu).to_kind(Kind::Float);
                self.mean_over_ranks(&v)?;
                Vec::<f64>::try_from(v.to_kind(Kind::Double))?
            }
        };
        let (loss_v, f_pos_v, f_neg_v, cond_v) = (values[0], values[1], values[2], values[3]);
        for (what, v) in [
            ("loss", loss_v),
            ("mean f(x+, y+)", f_pos_v),
            ("mean f(x-, y-)", f_neg_v),
        ] {
            if !v.is_finite() {
                return Err(Error::Diverged {
                    iteration: it,
                    what: format!("{what} is not finite"),
                });
            }
        }
        let limit = self.ema.config.max_abs_energy;
        for (what, v) in [("mean f(x+, y+)", f_pos_v), ("mean f(x-, y-)", f_neg_v)] {
            if limit > 0.0 && v.abs() > limit {
                return Err(Error::Diverged {
                    iteration: it,
                    what: format!("{what} = {v:.3e} is beyond ±max_abs_energy = {limit:.0e}"),
                });
            }
        }
        loss.backward();
        self.average_gradients()?;
        let clip = (self.ema.config.clip_grad > 0.0).then_some(self.ema.config.clip_grad);
        self.adam.step_clipped(lr, clip)?;
        ema_update(&self.ema.vs, &self.vs, self.ema.config.ema_decay)?;
        self.ema.iteration += 1;
        Ok(IterationReport {
            iteration: it,
            loss: loss_v,
            f_pos: f_pos_v,
            f_neg: f_neg_v,
            f_neg_joint: pooled_mean(&values, 4),
            f_neg_conditional: pooled_mean(&values, 6),
            cond_ll: (self.ema.config.cond_weight > 0.0).then_some(cond_v),
            lr,
            accept_y: diag.summary().accept_rate_y,
            seconds: self.session.clock.elapsed().as_secs_f64(),
        })
    }

    fn check_batch(&self, batch: &Batch) -> Result<()> {
        const OP: &str = "Trainer::step";
        let want = self.ema.buffer.x.size();
        let xs = batch.x.size();
        if xs.len() != want.len() || xs.first().copied().unwrap_or(0) < 1 || xs[1..] != want[1..] {
            let mut shape = vec!["B".to_string()];
            shape.extend(want[1..].iter().map(|d| d.to_string()));
            return Err(Error::shape(
                OP,
                "x",
                format!("[{}] with B ≥ 1", shape.join(", ")),
                &xs,
            ));
        }
        let b = xs[0];
        if batch.x.kind() != self.ema.buffer.x.kind() {
            return Err(Error::config(
                "x",
                format!("{:?}", batch.x.kind()),
                format!(
                    "training data must be {:?} like the model",
                    self.ema.buffer.x.kind()
                ),
            ));
        }
        let d = self.layout.dim() as i64;
        if batch.y.size() != [b, d] {
            return Err(Error::shape(
                OP,
                "y",
                format!("[{b}, {d}]"),
                &batch.y.size(),
            ));
        }
        if !batch.y.is_floating_point() {
            return Err(Error::config(
                "y",
                format!("{:?}", batch.y.kind()),
                "labels must be one-hot floats (see YLayout::encode)",
            ));
        }
        if let Some(o) = &batch.observed {
            let v = self.layout.num_vars() as i64;
            if o.size() != [b, v] || o.kind() != Kind::Bool {
                return Err(Error::shape(
                    OP,
                    "observed",
                    format!("bool [{b}, {v}]"),
                    &o.size(),
                ));
            }
        }
        Ok(())
    }
}

impl<M: JointEnergy> Trainer<M> {
    /// The negatives' start states when the conditional chains persist
    /// (`conditional_persistent`): the buffer's first `round(ρ·N)` slots hold the conditional
    /// chains (at least one slot of each kind), and `round(ρ·B)` rows are drawn from them,
    /// first, the others from the joint slots. Returns the draw and the number of conditional
    /// rows.
    fn draw_persistent(&self, cfg: &crate::TrainConfig) -> Result<(crate::buffer::Draw, i64)> {
        let n = self.ema.buffer.len();
        if n < 2 {
            return Err(Error::config(
                "buffer_size",
                n,
                "persistent conditional chains need ≥ 2 slots (conditional and joint)",
            ));
        }
        let rho = cfg.conditional_negatives;
        let b = cfg.batch_size;
        let n_c = ((rho * n as f64).round() as i64).clamp(1, n - 1);
        let b_c = ((rho * b as f64).round() as i64).clamp(0, b);
        let buf = &self.ema.buffer;
        let (xi, yi) = (&self.ema.x_init, &self.ema.y_init);
        let mut parts = Vec::with_capacity(2);
        if b_c > 0 {
            parts.push(buf.draw_slots(0..n_c, b_c, cfg.reinit_prob, xi, yi, &self.layout)?);
        }
        if b_c < b {
            parts.push(buf.draw_slots(n_c..n, b - b_c, cfg.reinit_prob, xi, yi, &self.layout)?);
        }
        let cat = |f: fn(&crate::buffer::Draw) -> &Tensor| -> Tensor {
            Tensor::cat(&parts.iter().map(f).collect::<Vec<_>>(), 0)
        };
        let draw = crate::buffer::Draw {
            index: cat(|d| &d.index),
            x: cat(|d| &d.x),
            y: cat(|d| &d.y),
            reinit: cat(|d| &d.reinit),
        };
        Ok((draw, b_c))
    }

    /// Restarts each chain of `rows` (`[B, 1]` bool) with probability `p` from `p₀(x) q₀(y)`:
    /// returns the new `(x0, y0)` and the restarted rows `[B]` bool. One draw of torch's
    /// generator for the choice, then one for `x` and one for `y`, in that order.
    fn restart_some(
        &self,
        rows: &Tensor,
        p: f64,
        x0: &Tensor,
        y0: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let b = x0.size()[0];
        let fresh = Tensor::rand([b], (Kind::Float, self.device))
            .lt(p)
            .logical_and(&rows.view([-1]));
        let x_noise = self.ema.x_init.sample(b).to_kind(x0.kind());
        let y_noise = self
            .ema
            .y_init
            .sample(&self.layout, b, self.device, y0.kind())?;
        Ok((
            select_rows(&fresh, &x_noise, x0),
            select_rows(&fresh, &y_noise, y0),
            fresh,
        ))
    }
}

/// `[V]` bool on `device`: which label variables of `layout` are categorical groups (they come
/// before the bits).
fn group_variables(layout: &ebm_core::YLayout, device: tch::Device) -> Tensor {
    Tensor::arange(layout.num_vars() as i64, (Kind::Int64, device)).lt(layout.groups().len() as i64)
}

/// `values[at] / values[at + 1]` (a sum over chains and their number), `None` when absent or
/// when no chain of the kind ran.
fn pooled_mean(values: &[f64], at: usize) -> Option<f64> {
    match (values.get(at), values.get(at + 1)) {
        (Some(&sum), Some(&n)) if n > 0.0 => Some(sum / n),
        _ => None,
    }
}
