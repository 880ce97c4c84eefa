//! [`TrainConfig::objective_summary`].

use super::{NegativeLabels, TrainConfig};
use crate::kernels::{XSampler, YSampler};

impl TrainConfig {
    /// One line naming the objective and every departure from the paper in this
    /// configuration's training (what a results table or a log's first line should show).
    pub fn objective_summary(&self) -> String {
        let mut s = "joint log-likelihood log p(x, y)".to_string();
        if self.cond_weight == 0.0
            && self.l2_energy == 0.0
            && self.data_noise == 0.0
            && self.conditional_negatives == 0.0
            && self.bit_dropout == 0.0
        {
            s.push_str(" (the paper's objective)");
        }
        if self.conditional_negatives > 0.0 {
            let whose = if self.conditional_persistent {
                ": persistent chains whose categorical groups stay clamped for life (a fixed \
                 share of the replay buffer; the groups of a data row from when the chain \
                 started)"
            } else {
                " with the batch's categorical groups clamped"
            };
            s = format!(
                "{} × {s} + {} × log p(x, bits | groups) (a fraction {} of the negative \
                 chains{whose}; NOT the paper's objective)",
                1.0 - self.conditional_negatives,
                self.conditional_negatives,
                self.conditional_negatives
            );
            if self.conditional_reinit_prob > 0.0 {
                s.push_str(&format!(
                    " (conditional chains restarted from p0(x) q0(bits) with probability {})",
                    self.conditional_reinit_prob
                ));
            }
        }
        if self.cond_weight > 0.0 && self.cond_steps > 0 {
            s.push_str(&format!(
                " + {} × extra conditional {}, estimated with {}-step chains on y from q0(y) \
                 (NOT the paper's objective)",
                self.cond_weight,
                if self.cond_split {
                    "log p(groups | bits, x) + log p(bits | groups, x)"
                } else {
                    "log p(y | x)"
                },
                self.cond_steps
            ));
        } else if self.cond_weight > 0.0 && self.cond_from_gradient {
            s.push_str(&format!(
                " + {} × extra conditional Σ_groups log p(y_g | y_¬g, x), read from ∂f/∂y \
                 (exact for energies affine in each group's one-hot; NOT the paper's objective)",
                self.cond_weight
            ));
            if self.cond_batch_size > self.batch_size {
                s.push_str(&format!(
                    " on {} labelled rows per iteration",
                    self.cond_batch_size
                ));
            }
        } else if self.cond_weight > 0.0 {
            s.push_str(&format!(
                " + {} × extra conditional pseudo-log-likelihood (NOT the paper's objective)",
                self.cond_weight
            ));
        }
        if self.l2_energy > 0.0 {
            s.push_str(&format!(
                " + L2 penalty {} on energies (not in the paper)",
                self.l2_energy
            ));
        }
        if self.bit_dropout > 0.0 {
            s.push_str(&format!(
                "; the bits of a fraction {} of each batch's rows dropped and imputed by the \
                 model (bit dropout: the positives hold the model's bits there; NOT the paper's \
                 objective)",
                self.bit_dropout
            ));
        }
        if self.data_noise > 0.0 {
            s.push_str(&format!(
                "; positive x perturbed by Gaussian noise σ = {} (the noise-convolved data \
                 density; not in the paper)",
                self.data_noise
            ));
        }
        if crate::optim::lr_decays(self.lr_decay_from, self.iterations) {
            s.push_str(&format!(
                "; learning rate decayed linearly to {} × from iteration {} (optimiser, not in the paper)",
                self.lr_decay_final, self.lr_decay_from
            ));
        }
        if self.label_lr_scale != 1.0 {
            s.push_str(&format!(
                "; label weights trained with {} × the learning rate (optimiser, not in the paper)",
                self.label_lr_scale
            ));
        }
        if self.negative_labels == NegativeLabels::Expected {
            s.push_str(
                "; negative phase Rao-Blackwellised over y (same objective, lower variance; not in the paper)",
            );
        }
        if self.data_reinit_prob > 0.0 {
            s.push_str(&format!(
                "; negative chains restarted at data points with probability {} (sampler start, not in the paper)",
                self.data_reinit_prob
            ));
        }
        if self.clip_grad > 0.0 {
            s.push_str(&format!(
                "; gradient norm clipped at {} (not in the paper)",
                self.clip_grad
            ));
        }
        if self.y_sampler != YSampler::Gwg || self.x_sampler != XSampler::Langevin {
            s.push_str(&format!(
                "; samplers {:?} on y and {:?} on x (the paper: Gwg and Langevin)",
                self.y_sampler, self.x_sampler
            ));
        }
        if let Some(k) = self.predict_y_sampler.filter(|k| *k != self.y_sampler) {
            s.push_str(&format!(
                "; sample-based prediction with {k:?} on y (the paper: the training kernel)"
            ));
        }
        s
    }
}
