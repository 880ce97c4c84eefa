//! Setting single keys of a [`TrainConfig`] by name, as written in `config.json`: `lr`,
//! `langevin.step_size`, `recovery.energy_gap_patience`, … — one spelling per setting, shared by
//! the struct, its JSON and the command line (`--set KEY=VALUE`, `--config FILE`).

use crate::config::TrainConfig;
use ebm_core::{Error, Result};
use serde_json::Value;
use std::path::Path;

impl TrainConfig {
    /// Sets the key `key` (a dotted path into the configuration's JSON form, e.g. `lr` or
    /// `recovery.max_recoveries`) to `value`, read as JSON when it parses (`5e-4`, `true`,
    /// `"gibbs"`) and as a string otherwise (`gibbs`). An unknown key is an error listing the
    /// keys at that level; a value of the wrong type is an error naming the key. The result is
    /// not validated: call [`TrainConfig::validate`] after the last change.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let mut json = serde_json::to_value(&*self)
            .map_err(|e| Error::config("config", key, format!("cannot serialise: {e}")))?;
        let mut slot = &mut json;
        let mut path = String::new();
        for part in key.split('.') {
            let Value::Object(map) = slot else {
                return Err(Error::config("key", key, format!("{path} has no sub-keys")));
            };
            if !map.contains_key(part) {
                let known: Vec<&str> = map.keys().map(String::as_str).collect();
                let at = if path.is_empty() {
                    "the top level"
                } else {
                    &path
                };
                return Err(Error::config(
                    "key",
                    key,
                    format!("unknown; the keys at {at} are: {}", known.join(", ")),
                ));
            }
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(part);
            slot = map.get_mut(part).expect("checked above");
        }
        if slot.is_object() {
            return Err(Error::config(
                "key",
                key,
                "is a section: set one of its keys (e.g. section.key=value)",
            ));
        }
        *slot = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        *self = serde_json::from_value(json)
            .map_err(|e| Error::config("key", format!("{key}={value}"), e.to_string()))?;
        Ok(())
    }

    /// Applies `KEY=VALUE` assignments in order (see [`TrainConfig::set`]).
    pub fn set_all<S: AsRef<str>>(&mut self, assignments: &[S]) -> Result<()> {
        for a in assignments {
            let a = a.as_ref();
            let (key, value) = a
                .split_once('=')
                .ok_or_else(|| Error::config("set", a, "expected KEY=VALUE"))?;
            self.set(key.trim(), value.trim())?;
        }
        Ok(())
    }

    /// Applies every setting of a JSON file: either a configuration object (as
    /// `TrainConfig` serialises) or a run's `config.json` (its `train` section is used). Only
    /// the keys present change (each as [`TrainConfig::set`] would), so a file may hold a
    /// few settings on top of a preset.
    pub fn apply_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, "cannot read the configuration", e))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| Error::file(path, format!("not JSON: {e}")))?;
        let json = match json.get("train") {
            Some(t) if t.is_object() => t.clone(),
            _ => json,
        };
        let mut leaves = Vec::new();
        flatten("", &json, &mut leaves);
        if leaves.is_empty() {
            return Err(Error::file(path, "no settings (expected a JSON object)"));
        }
        for (key, value) in leaves {
            self.set(&key, &value.to_string())
                .map_err(|e| Error::file(path, e.to_string()))?;
        }
        Ok(())
    }
}

/// The leaves of a JSON object as `(dotted key, value)`.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ if !prefix.is_empty() => out.push((prefix.to_string(), v.clone())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_nested_keys_with_the_json_spelling() {
        let mut c = TrainConfig::default();
        c.set_all(&["lr=5e-4", "langevin.step_size=0.02", "y_sampler=gibbs"])
            .unwrap();
        assert_eq!(c.lr, 5e-4);
        assert_eq!(c.langevin.step_size, 0.02);
        assert_eq!(c.y_sampler, crate::YSampler::Gibbs);
        c.set("recovery.energy_gap_patience", "30").unwrap();
        assert_eq!(c.recovery.energy_gap_patience, 30);
        c.validate().unwrap();
        // Unknown keys name what exists; wrong types and sections are refused; nothing changes.
        let before = c.clone();
        let e = c.set("learning_rate", "1").unwrap_err().to_string();
        assert!(e.contains("learning_rate") && e.contains("lr"), "{e}");
        let e = c.set("langevin.eps", "1").unwrap_err().to_string();
        assert!(e.contains("step_size") && e.contains("noise_scale"), "{e}");
        assert!(c.set("iterations", "many").is_err());
        assert!(c.set("langevin", "1").is_err());
        assert!(c.set_all(&["lr"]).is_err());
        assert_eq!(c, before);
    }

    #[test]
    fn a_file_changes_only_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.json");
        std::fs::write(
            &p,
            r#"{"train": {"sweeps": 7, "langevin": {"noise_scale": 0.2}}}"#,
        )
        .unwrap();
        let mut c = TrainConfig::default();
        let want = TrainConfig {
            sweeps: 7,
            langevin: samplers_cont::LangevinConfig {
                noise_scale: 0.2,
                ..c.langevin.clone()
            },
            ..c.clone()
        };
        c.apply_file(&p).unwrap();
        assert_eq!(c, want);
        std::fs::write(&p, r#"{"sweps": 7}"#).unwrap();
        let e = c.apply_file(&p).unwrap_err().to_string();
        assert!(e.contains("run.json") && e.contains("sweps"), "{e}");
    }
}
