//! Encryption of Secrets at rest (AES-256-GCM), the way kube-apiserver's `aesgcm` provider
//! frames it: `k8s:enc:aesgcm:v1:<key name>:` + nonce + ciphertext. Values without the
//! prefix are read as plaintext, so data written before encryption stays readable.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};

const PREFIX: &[u8] = b"k8s:enc:aesgcm:v1:skiff:";
const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(aes-256-gcm)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        SecretBox {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(PREFIX.len() + NONCE_LEN + ciphertext.len());
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a sealed value; returns other values unchanged.
    pub fn open<'a>(&self, stored: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>, String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(std::borrow::Cow::Borrowed(stored));
        };
        if rest.len() < NONCE_LEN {
            return Err("encrypted value is truncated".into());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map(std::borrow::Cow::Owned)
            .map_err(|_| {
                "cannot decrypt a stored secret: the encryption key in the data directory does \
                 not match the one it was written with"
                    .into()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let b = SecretBox::new(&[7; 32]);
        let sealed = b.seal(b"{\"data\":{\"password\":\"aHVudGVyMg==\"}}");
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.windows(6).any(|w| w == b"aHVudG"));
        assert_eq!(
            &*b.open(&sealed).unwrap(),
            b"{\"data\":{\"password\":\"aHVudGVyMg==\"}}"
        );
        assert_eq!(&*b.open(b"plain").unwrap(), b"plain");
        let other = SecretBox::new(&[8; 32]);
        assert!(other.open(&sealed).unwrap_err().contains("does not match"));
    }
}
