//! Located configuration errors. Every error says where (file, line, column or the environment
//! variable), which key (`meetings.lecture.startDate`), what is wrong and what to do.

use std::fmt;

/// One problem in a configuration file or in a `SCHEDULIGHT_*` environment override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as named by the caller (`bot-config.yml`, `/etc/schedulight/meetings.yml`).
    pub file: String,
    /// 1-based line, 0 when the problem has no position in the file (e.g. it is unreadable).
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// Set when the value came from an environment variable instead of the file.
    pub env_var: Option<String>,
    /// Dotted key path, e.g. `meetings.lecture.startDate`; empty for whole-file problems.
    pub path: String,
    /// What is wrong. Never contains secret values.
    pub message: String,
    /// What to do about it, e.g. "did you mean `startDate`?".
    pub hint: Option<String>,
}

impl ConfigError {
    /// `file:line:column`, or `file` / the variable name when there is no position.
    pub fn location(&self) -> String {
        if let Some(var) = &self.env_var {
            format!("environment variable {var}")
        } else if self.line > 0 {
            format!("{}:{}:{}", self.file, self.line, self.column)
        } else {
            self.file.clone()
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location())?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// All problems found in one file (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn single(e: ConfigError) -> Self {
        Self(vec![e])
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
