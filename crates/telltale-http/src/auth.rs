//! Credentials for managed and proxied servers, read from files or the environment, never inline.

use std::fmt;
use std::path::Path;

use crate::error::Error;

/// A secret value that never appears in `Debug` output or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Reads a secret from a file (as sops-nix or agenix write them), trimming one trailing
    /// newline.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Secret, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Secret {
            origin: format!("file {}", path.display()),
            source: Some(Box::new(e)),
        })?;
        Secret::checked(
            text.strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text),
            || format!("file {}", path.display()),
        )
    }

    /// Reads a secret from an environment variable.
    pub fn from_env(var: &str) -> Result<Secret, Error> {
        let value = std::env::var(var).map_err(|e| Error::Secret {
            origin: format!("env {var}"),
            source: Some(Box::new(e)),
        })?;
        Secret::checked(&value, || format!("env {var}"))
    }

    fn checked(value: &str, origin: impl Fn() -> String) -> Result<Secret, Error> {
        if value.is_empty() {
            return Err(Error::Secret {
                origin: format!("{} (it is empty)", origin()),
                source: None,
            });
        }
        if value.contains(['\n', '\r']) {
            return Err(Error::Secret {
                origin: format!("{} (it spans several lines)", origin()),
                source: None,
            });
        }
        Ok(Secret(value.to_owned()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// HTTP basic auth, as Grafana Cloud and most reverse proxies use.
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
}

impl Auth {
    pub(crate) fn header_value(&self) -> String {
        match self {
            Auth::Basic { username, password } => {
                format!(
                    "Basic {}",
                    base64(format!("{username}:{}", password.expose()).as_bytes())
                )
            }
            Auth::Bearer(token) => format!("Bearer {}", token.expose()),
        }
    }
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_header_is_rfc7617() {
        let auth = Auth::Basic {
            username: "Aladdin".into(),
            password: Secret("open sesame".into()),
        };
        assert_eq!(auth.header_value(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        let auth = Auth::Bearer(s);
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn file_secret_trims_one_newline_and_refuses_empty() {
        let dir = std::env::temp_dir().join(format!("telltale-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "abc");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            Secret::from_file(&path),
            Err(Error::Secret { .. })
        ));
        let missing = Secret::from_file(dir.join("absent")).unwrap_err();
        assert!(missing.to_string().contains("absent"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
