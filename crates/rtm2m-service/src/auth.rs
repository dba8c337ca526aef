//! API tokens with scopes. A token is a random string shown once when it is made; the service keeps only its
//! SHA-256 hash and compares hashes in constant time. Tokens are never logged, never stored in plain text and
//! never echoed in an error.
//!
//! Scopes (`docs/service.md` §3):
//! - `read`: every read endpoint and WebSocket topic;
//! - `ingest`: `POST /v1/events` only;
//! - `admin`: everything, including token management;
//! - `account:ID`: read access to account `ID` only (its detail, its rows, its WebSocket updates) and to the
//!   market data (instruments, marks, surfaces, index).

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::RwLock;
use subtle::ConstantTimeEq;

/// The least length of a token given by configuration or environment, bytes.
pub const TOKEN_LEN_MIN: usize = 16;

/// The most tokens a store holds (a bound on memory and on the constant-time scan).
pub const TOKENS_MAX: usize = 10_000;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Read everything.
    Read,
    /// Post events.
    Ingest,
    /// Everything, including token management.
    Admin,
    /// Read one account and the market data.
    Account(String),
}

impl Scope {
    /// Reads `read`, `ingest`, `admin` or `account:ID`; the error says why not.
    pub fn parse(text: &str) -> Result<Scope, String> {
        match text {
            "read" => Ok(Scope::Read),
            "ingest" => Ok(Scope::Ingest),
            "admin" => Ok(Scope::Admin),
            _ => match text.strip_prefix("account:") {
                Some(id) if !id.is_empty() && id.len() <= 256 => Ok(Scope::Account(id.to_owned())),
                _ => Err(format!(
                    "`{text}` is not a scope (read, ingest, admin or account:ID)"
                )),
            },
        }
    }

    /// The wire form (`account:ID` for an account scope).
    pub fn name(&self) -> String {
        match self {
            Scope::Read => "read".into(),
            Scope::Ingest => "ingest".into(),
            Scope::Admin => "admin".into(),
            Scope::Account(id) => format!("account:{id}"),
        }
    }
}

/// Who made a request: the token's name and scope (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name.
    pub name: String,
    /// Its scope.
    pub scope: Scope,
}

impl Principal {
    /// May read every account.
    pub fn reads_all(&self) -> bool {
        matches!(self.scope, Scope::Read | Scope::Admin)
    }

    /// May read market data (instruments, marks, surfaces, index): any reading scope.
    pub fn reads_market(&self) -> bool {
        !matches!(self.scope, Scope::Ingest)
    }

    /// May read account `id`.
    pub fn reads_account(&self, id: &str) -> bool {
        match &self.scope {
            Scope::Read | Scope::Admin => true,
            Scope::Account(own) => own == id,
            Scope::Ingest => false,
        }
    }

    /// The one account it is limited to, if any.
    pub fn account(&self) -> Option<&str> {
        match &self.scope {
            Scope::Account(id) => Some(id),
            _ => None,
        }
    }

    /// May post events.
    pub fn ingests(&self) -> bool {
        matches!(self.scope, Scope::Ingest | Scope::Admin)
    }

    /// May manage tokens.
    pub fn admin(&self) -> bool {
        matches!(self.scope, Scope::Admin)
    }
}

/// A token as listed (never its secret nor its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenListing {
    /// Name.
    pub name: String,
    /// Scope (`read`, `ingest`, `admin`, `account:ID`).
    pub scope: String,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    scope: Scope,
    hash: [u8; 32],
}

/// Why a token cannot be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefused {
    /// The field at fault (`name`, `scope`, `token`, `sha256`).
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn refused<T>(field: &'static str, reason: impl Into<String>) -> Result<T, TokenRefused> {
    Err(TokenRefused {
        field,
        reason: reason.into(),
    })
}

/// SHA-256 of a token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (k, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * k..2 * k + 2], 16).ok()?;
    }
    Some(out)
}

/// A fresh random token: `rtm2m_` and 40 hex digits (160 bits from the operating system's generator, through
/// ChaCha12).
pub fn new_token() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    format!("rtm2m_{}", hex(&bytes))
}

/// The tokens the service accepts, by hash.
#[derive(Debug, Default)]
pub struct TokenStore {
    entries: RwLock<Vec<Entry>>,
}

impl TokenStore {
    /// An empty store (every request with a token is then refused).
    pub fn new() -> TokenStore {
        TokenStore::default()
    }

    fn insert(&self, name: &str, scope: Scope, hash: [u8; 32]) -> Result<(), TokenRefused> {
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return refused("name", "must be 1 to 128 printable characters");
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.iter().any(|e| e.name == name) {
            return refused("name", format!("a token named `{name}` exists"));
        }
        if entries.len() >= TOKENS_MAX {
            return refused("name", format!("at most {TOKENS_MAX} tokens"));
        }
        if entries.iter().any(|e| bool::from(e.hash.ct_eq(&hash))) {
            return refused("token", "the same token is already registered");
        }
        entries.push(Entry {
            name: name.to_owned(),
            scope,
            hash,
        });
        Ok(())
    }

    /// Adds a token given in plain text (from the environment); only its hash is kept.
    pub fn add_token(&self, name: &str, scope: Scope, token: &str) -> Result<(), TokenRefused> {
        if token.len() < TOKEN_LEN_MIN || token.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return refused(
                "token",
                format!("must be at least {TOKEN_LEN_MIN} characters without spaces"),
            );
        }
        self.insert(name, scope, hash_token(token))
    }

    /// Adds a token by the hex of its SHA-256 hash (from the configuration file).
    pub fn add_hash(&self, name: &str, scope: Scope, sha256_hex: &str) -> Result<(), TokenRefused> {
        let Some(hash) = unhex32(&sha256_hex.to_ascii_lowercase()) else {
            return refused("sha256", "must be 64 hex digits (the SHA-256 of the token)");
        };
        self.insert(name, scope, hash)
    }

    /// Makes a new token with `scope`, keeps its hash and returns it (the only time it is seen).
    pub fn generate(&self, name: &str, scope: Scope) -> Result<String, TokenRefused> {
        let token = new_token();
        self.insert(name, scope, hash_token(&token))?;
        Ok(token)
    }

    /// Removes the token named `name`; whether it existed.
    pub fn remove(&self, name: &str) -> bool {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let before = entries.len();
        entries.retain(|e| e.name != name);
        entries.len() != before
    }

    /// The tokens, by name and scope.
    pub fn list(&self) -> Vec<TokenListing> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .map(|e| TokenListing {
                name: e.name.clone(),
                scope: e.scope.name(),
            })
            .collect()
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// No token at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The principal of `token`, if it is registered. Every stored hash is compared, in constant time, so
    /// the time taken does not say which one matched or how much of it did.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let hash = hash_token(token);
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut found: Option<usize> = None;
        for (k, e) in entries.iter().enumerate() {
            let same = bool::from(e.hash.ct_eq(&hash));
            if same && found.is_none() {
                found = Some(k);
            }
        }
        found.map(|k| Principal {
            name: entries[k].name.clone(),
            scope: entries[k].scope.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_keeps_hashes_and_finds_the_scope_of_a_token() {
        let store = TokenStore::new();
        let admin = store.generate("admin", Scope::Admin).unwrap();
        store
            .add_token("reader", Scope::Read, "a-long-enough-read-token")
            .unwrap();
        store
            .add_hash(
                "desk",
                Scope::Account("acct-1".into()),
                &hex(&hash_token("desk-token-0123456789")),
            )
            .unwrap();
        assert_eq!(store.authenticate(&admin).unwrap().scope, Scope::Admin);
        assert_eq!(
            store.authenticate("a-long-enough-read-token").unwrap().name,
            "reader"
        );
        let desk = store.authenticate("desk-token-0123456789").unwrap();
        assert!(desk.reads_account("acct-1") && !desk.reads_account("acct-2") && !desk.ingests());
        assert!(store.authenticate("a-long-enough-read-tokeN").is_none());
        assert!(store.authenticate("").is_none());
        let listed = format!("{:?}", store.list());
        assert!(!listed.contains(&admin) && listed.contains("account:acct-1"));
        assert!(store.remove("reader"));
        assert!(store.authenticate("a-long-enough-read-token").is_none());
    }

    #[test]
    fn short_tokens_duplicate_names_and_bad_scopes_are_refused() {
        let store = TokenStore::new();
        assert_eq!(
            store
                .add_token("x", Scope::Read, "short")
                .unwrap_err()
                .field,
            "token"
        );
        store
            .add_token("x", Scope::Read, "0123456789abcdef")
            .unwrap();
        assert_eq!(
            store
                .add_token("x", Scope::Read, "0123456789abcdefg")
                .unwrap_err()
                .field,
            "name"
        );
        assert_eq!(
            store.add_hash("y", Scope::Read, "zz").unwrap_err().field,
            "sha256"
        );
        assert!(Scope::parse("account:").is_err());
        assert_eq!(
            Scope::parse("account:a-1").unwrap(),
            Scope::Account("a-1".into())
        );
        assert!(Scope::parse("write").unwrap_err().contains("not a scope"));
    }
}
