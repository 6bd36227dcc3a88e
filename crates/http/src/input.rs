//! Request-input parsing with the reference's quirks (§b.6): optional means "key may be absent",
//! a JSON `null` in a present string/boolean field is a 400; query booleans compare with "true".

use crate::error::ApiError;
use serde_json::{Map, Value};
use st_core::ids::java_trim;
use std::collections::HashMap;

/// A JSON body. Parsing happens up front, but an invalid body is only an error for handlers
/// that read it (`/hello` accepts any body), as in the reference.
pub struct Body(Result<Map<String, Value>, ()>, NulRule);

/// Whether [`Body`]'s string getters refuse a NUL character ([`recipe_checks_nul_itself`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum NulRule {
    Refused,
    LeftToTheRecipe,
}

fn invalid(field: &str) -> ApiError {
    ApiError::BadRequest(format!("Field name '{field}' is invalid in JSON input"))
}

/// A string read from the request: no NUL character (`st_core::limits::no_nul`).
pub fn no_nul(field: &str, value: &str) -> Result<(), ApiError> {
    st_core::limits::no_nul(field, value).map_err(ApiError::BadRequest)
}

/// A string a handler stores: no NUL character and within its column
/// (`st_core::limits::stored`).
pub fn storable(field: &str, value: String) -> Result<String, ApiError> {
    st_core::limits::stored(field, &value).map_err(ApiError::BadRequest)?;
    Ok(value)
}

impl Body {
    pub fn parse(bytes: &[u8]) -> Body {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => Body(Ok(m), NulRule::Refused),
            _ => Body(Err(()), NulRule::Refused),
        }
    }

    pub fn empty() -> Body {
        Body(Ok(Map::new()), NulRule::Refused)
    }

    /// A nested object read with the same rules (e.g. third party's `email: {id, isVerified}`),
    /// but for NUL characters, which the caller checks where it stores the values.
    pub fn of_object(fields: Map<String, Value>) -> Body {
        Body(Ok(fields), NulRule::LeftToTheRecipe)
    }

    /// The same body, its NUL characters left to the route's recipe
    /// ([`recipe_checks_nul_itself`]).
    pub fn nul_left_to_the_recipe(self) -> Body {
        Body(self.0, NulRule::LeftToTheRecipe)
    }

    fn no_nul(&self, field: &str, value: &str) -> Result<(), ApiError> {
        match self.1 {
            NulRule::Refused => no_nul(field, value),
            NulRule::LeftToTheRecipe => Ok(()),
        }
    }

    /// The body's fields, or the reference's 400 for a body that is not a JSON object.
    pub fn map(&self) -> Result<&Map<String, Value>, ApiError> {
        self.0.as_ref().map_err(|_| ApiError::BadRequest("Invalid Json Input".into()))
    }

    fn get(&self, field: &str) -> Result<Option<&Value>, ApiError> {
        Ok(self.map()?.get(field))
    }

    pub fn has(&self, field: &str) -> Result<bool, ApiError> {
        Ok(self.get(field)?.is_some())
    }

    pub fn raw(&self, field: &str) -> Result<Option<&Value>, ApiError> {
        self.get(field)
    }

    pub fn string(&self, field: &str) -> Result<String, ApiError> {
        self.opt_string(field)?.ok_or_else(|| invalid(field))
    }

    /// A required string, trimmed; empty after trimming is the reference's 400.
    pub fn trimmed(&self, field: &str) -> Result<String, ApiError> {
        non_empty(field, java_trim(&self.string(field)?))
    }

    /// An optional string; a NUL character in it is a 400 (no backend could look it up alike).
    pub fn opt_string(&self, field: &str) -> Result<Option<String>, ApiError> {
        match self.get(field)? {
            None => Ok(None),
            Some(Value::String(s)) => {
                self.no_nul(field, s)?;
                Ok(Some(s.clone()))
            }
            Some(_) => Err(invalid(field)),
        }
    }

    /// A required string that the handler stores: within its column (`st_core::limits`).
    pub fn stored(&self, field: &str) -> Result<String, ApiError> {
        storable(field, self.string(field)?)
    }

    /// [`Body::trimmed`] for a value the handler stores.
    pub fn stored_trimmed(&self, field: &str) -> Result<String, ApiError> {
        storable(field, self.trimmed(field)?)
    }

    /// [`Body::opt_string`] for a value the handler stores.
    pub fn opt_stored(&self, field: &str) -> Result<Option<String>, ApiError> {
        self.opt_string(field)?.map(|s| storable(field, s)).transpose()
    }

    pub fn bool(&self, field: &str) -> Result<bool, ApiError> {
        self.opt_bool(field)?.ok_or_else(|| invalid(field))
    }

    /// Booleans: JSON strings and `null` are invalid; numbers are coerced (only `true` is true).
    pub fn opt_bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.get(field)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(_)) => Ok(Some(false)),
            Some(_) => Err(invalid(field)),
        }
    }

    pub fn i64(&self, field: &str) -> Result<i64, ApiError> {
        self.opt_i64(field)?.ok_or_else(|| invalid(field))
    }

    /// Integers: numbers or numeric strings; `null` is invalid.
    pub fn opt_i64(&self, field: &str) -> Result<Option<i64>, ApiError> {
        match self.get(field)? {
            None => Ok(None),
            Some(Value::Number(n)) => {
                n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).map(Some).ok_or_else(|| invalid(field))
            }
            Some(Value::String(s)) => java_trim(s).parse::<i64>().map(Some).map_err(|_| invalid(field)),
            Some(_) => Err(invalid(field)),
        }
    }

    pub fn object(&self, field: &str) -> Result<Map<String, Value>, ApiError> {
        self.opt_object(field)?.ok_or_else(|| invalid(field))
    }

    pub fn opt_object(&self, field: &str) -> Result<Option<Map<String, Value>>, ApiError> {
        match self.get(field)? {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(_) => Err(invalid(field)),
        }
    }

    /// Any JSON value that is not null (e.g. `userDataInDatabase`).
    pub fn value(&self, field: &str) -> Result<Value, ApiError> {
        match self.get(field)? {
            Some(v) if !v.is_null() => Ok(v.clone()),
            _ => Err(invalid(field)),
        }
    }

    pub fn opt_string_array(&self, field: &str) -> Result<Option<Vec<String>>, ApiError> {
        self.opt_string_array_each(field, |s| Ok(s.to_string()))
    }

    /// [`Body::opt_string_array`] whose elements also pass `check`, element by element (a
    /// non-string is refused when it is reached, as the reference's loop does).
    pub fn opt_string_array_each(
        &self,
        field: &str,
        check: impl Fn(&str) -> Result<String, ApiError>,
    ) -> Result<Option<Vec<String>>, ApiError> {
        match self.get(field)? {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    let s = v.as_str().ok_or_else(|| invalid(field))?;
                    self.no_nul(field, s)?;
                    check(s)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(field)),
        }
    }

    /// [`Body::opt_string_array`] whose elements the handler stores, each within its column.
    pub fn opt_stored_array(&self, field: &str) -> Result<Option<Vec<String>>, ApiError> {
        self.opt_string_array_each(field, |s| storable(field, s.to_string()))
    }

    /// Arrays where JSON `null` means "unset" (multitenancy factors).
    pub fn nullable_string_array(&self, field: &str) -> Result<Option<Option<Vec<String>>>, ApiError> {
        match self.get(field)? {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(_) => Ok(Some(self.opt_string_array(field)?)),
        }
    }
}

/// `value` as an owned string unless it is empty: "Field name '<field>' cannot be an empty String".
pub fn non_empty(field: &str, value: &str) -> Result<String, ApiError> {
    if value.is_empty() {
        Err(ApiError::BadRequest(format!("Field name '{field}' cannot be an empty String")))
    } else {
        Ok(value.to_string())
    }
}

/// Whether the route's recipe applies the NUL rule itself, as it did before the edge check
/// existed (TOTP, passwordless, third party, dashboard, and the account-info look-up): a NUL in a
/// value it stores is its own 400 (the same wording), and one in a value it looks up matches
/// nothing (nothing stored holds one), answered as for an unknown value on both backends. Their
/// tests hold that decision, so the edge leaves these routes' strings to them. Every other route
/// refuses a NUL in any body string or query parameter with the 400.
pub fn recipe_checks_nul_itself(path: &str, rid: Option<&str>) -> bool {
    path.starts_with("/recipe/dashboard/")
        || path.starts_with("/recipe/totp/")
        || path.starts_with("/recipe/signinup")
        || matches!(path, "/users/by-accountinfo" | "/recipe/users/by-email")
        || (path == "/recipe/user" && matches!(rid, Some("passwordless" | "thirdparty")))
}

/// Query-string parameters.
pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn parse(query: &str) -> Query {
        let mut map = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // The first of repeated parameters counts, as with the servlet API's `getParameter`.
            map.entry(decode(k)).or_insert_with(|| decode(v));
        }
        Query(map)
    }

    pub fn string(&self, field: &str) -> Result<String, ApiError> {
        self.opt_string(field)
            .ok_or_else(|| ApiError::BadRequest(format!("Field name '{field}' is missing in GET request")))
    }

    /// No parameter holds a NUL character (`%00`): checked for every request before its
    /// handler, as no backend could look such a value up alike (the first offending parameter,
    /// by name, is named) — except where [`recipe_checks_nul_itself`].
    pub fn check_no_nul(&self, path: &str, rid: Option<&str>) -> Result<(), ApiError> {
        if recipe_checks_nul_itself(path, rid) {
            return Ok(());
        }
        let mut names: Vec<&String> = self.0.iter().filter(|(_, v)| v.contains('\0')).map(|(k, _)| k).collect();
        names.sort();
        match names.first() {
            Some(name) => Err(ApiError::BadRequest(st_core::limits::nul_message(name))),
            None => Ok(()),
        }
    }

    pub fn opt_string(&self, field: &str) -> Option<String> {
        self.0.get(field).cloned()
    }

    /// `"true"` (any case) is true; anything else, or absent, is `default`... absent only.
    pub fn bool_or(&self, field: &str, default: bool) -> bool {
        match self.0.get(field) {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => default,
        }
    }

    /// An int parameter, parsed as Java's `Integer.parseInt` does (no blanks, 32-bit range).
    pub fn opt_int(&self, field: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(field) {
            None => Ok(None),
            Some(v) => v
                .parse::<i32>()
                .map(|n| Some(i64::from(n)))
                .map_err(|_| ApiError::BadRequest(format!("Field name '{field}' must be an int in the GET request"))),
        }
    }

    /// A long parameter, parsed as Java's `Long.parseLong` does (no blanks).
    pub fn opt_long(&self, field: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(field) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::BadRequest(format!("Field name '{field}' must be a long in the GET request"))),
        }
    }
}

/// Percent-decoding with `+` as space (form encoding), lossy on invalid UTF-8.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_in_optional_string_is_invalid() {
        let b = Body::parse(br#"{"a":null,"b":"x","c":1}"#);
        assert!(b.opt_string("a").is_err());
        assert_eq!(b.opt_string("b").unwrap().as_deref(), Some("x"));
        assert!(b.opt_string("c").is_err());
        assert_eq!(b.opt_string("zz").unwrap(), None);
        assert!(Body::parse(b"[1]").opt_string("a").is_err());
    }

    #[test]
    fn booleans_and_ints() {
        let b = Body::parse(br#"{"t":true,"s":"true","n":1,"i":"12"}"#);
        assert!(b.bool("t").unwrap());
        assert!(b.bool("s").is_err());
        assert!(!b.bool("n").unwrap());
        assert_eq!(b.i64("i").unwrap(), 12);
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse("email=a%40b.com&x=1+2&flag=TRUE&bad=%zz");
        assert_eq!(q.opt_string("email").as_deref(), Some("a@b.com"));
        assert_eq!(q.opt_string("x").as_deref(), Some("1 2"));
        assert!(q.bool_or("flag", false));
        assert_eq!(q.opt_string("bad").as_deref(), Some("%zz"));
    }
}
