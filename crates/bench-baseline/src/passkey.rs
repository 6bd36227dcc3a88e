//! Passkey sign-in (`cargo xtask bench passkey`): the bare handler that is its ceiling, and the
//! load generator, which holds the users' P-256 keys and signs a fresh challenge per sign-in.
//!
//! The load generator lives here rather than in the std-only xtask because it signs: ECDSA
//! P-256 needs ring, and it is built in release like the rest of this binary, so that the
//! client's own CPU (on the same two cores as the server) is as small as it can be. Its
//! authenticator is the tests' (`st_tests::webauthn`: CBOR attestation `none`, COSE keys, real
//! signatures over `authenticatorData ‖ SHA-256(clientDataJSON)`).
//!
//! * `passkey-setup --port P --users N --out FILE [--api-key K] [--threads T]` — signs up N
//!   users on the server (`options/register` then `signup`, one ES256 credential each) and
//!   writes FILE, a line per user: credential id, its key's PKCS#8, user handle (base64url), the
//!   recipe user id and the e-mail, tab-separated.
//! * `passkey-run --port P --target server|baseline --conns C --seconds S --keys FILE
//!   [--api-key K] [--cdi V] [--pid PID]` — C connections (a thread each) for S seconds, each
//!   taking its users (i ≡ c mod C) in turn. Against the server a sign-in is `POST
//!   /public/recipe/webauthn/options/signin` then `POST /public/recipe/webauthn/signin` with an
//!   assertion of the options' challenge; against the baseline one `POST /webauthn/signin` with
//!   an assertion of a challenge made here. Prints one line of `key=value`: sign-ins and
//!   requests per second, p50/p99 per request and per sign-in, answers that were not OK, the
//!   client's CPU-seconds and its µs per assertion built and signed, PID's CPU-seconds over the
//!   run (the process under test) and the box's busy CPU-seconds (`/proc/stat`).
//! * `serve` answers `POST /webauthn/signin` ([`sign_in`]) with the keys of `$ST_BENCH_PASSKEYS`
//!   (a `passkey-setup` file): JSON body, base64url of clientDataJSON / authenticatorData /
//!   signature, clientDataJSON parsed and its type, origin and challenge looked at, the relying
//!   party hash and presence flag, the ES256 verify (ring) over `authenticatorData ‖
//!   SHA-256(clientDataJSON)`, and a user object of the server's shape as the answer. No
//!   storage: what is left is the HTTP, JSON, base64 and signature work of a sign-in.
//! * `passkey-verify-cost [--seconds S]` — CPU µs per check on one thread: ring's ES256 verify,
//!   the bare handler's work, the server's pure assertion check, and a client signature
//!   ([`verify_cost`]).

use crate::Opts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{json, Value};
use st_tests::webauthn::{Algorithm, Ceremony, Credential};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

type Result<T, E = String> = std::result::Result<T, E>;

pub const ORIGIN: &str = "https://login.example.com";
pub const RP_ID: &str = "example.com";
const RP_NAME: &str = "Example";

// ---------------------------------------------------------------------------------------------
// The ceiling: a bare sign-in handler
// ---------------------------------------------------------------------------------------------

/// A registered passkey as the bare handler knows it.
pub struct Passkey {
    /// The uncompressed P-256 point (0x04 ‖ x ‖ y).
    public_key: Vec<u8>,
    user_id: String,
    email: String,
}

/// Credential id (base64url) → passkey, from a `passkey-setup` file.
pub type Passkeys = HashMap<String, Passkey>;

/// The passkeys of `$ST_BENCH_PASSKEYS`, if set.
pub fn passkeys_from_env() -> Result<Passkeys> {
    let Ok(path) = std::env::var("ST_BENCH_PASSKEYS") else { return Ok(Passkeys::new()) };
    let mut out = Passkeys::new();
    for user in read_users(&path)? {
        let key =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &user.pkcs8, &SystemRandom::new())
                .map_err(|_| format!("{path}: not a P-256 key"))?;
        out.insert(
            user.credential_id.clone(),
            Passkey { public_key: key.public_key().as_ref().to_vec(), user_id: user.user_id, email: user.email },
        );
    }
    Ok(out)
}

/// The work of a sign-in without storage (see the module docs); the user object or why not.
pub fn sign_in(keys: &Passkeys, body: &[u8]) -> Result<Value> {
    let request: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    request["webauthnGeneratedOptionsId"].as_str().ok_or("webauthnGeneratedOptionsId is missing")?;
    let credential = &request["credential"];
    let id = credential["id"].as_str().ok_or("credential id is missing")?;
    if credential["type"].as_str() != Some("public-key") {
        return Err("not supported credential type".into());
    }
    let response = &credential["response"];
    let field = |name: &str| -> Result<Vec<u8>> {
        let text = response[name].as_str().ok_or_else(|| format!("{name} is missing"))?;
        URL_SAFE_NO_PAD.decode(text).map_err(|_| format!("{name} is not base64url"))
    };
    let (client_data, auth_data, sig) = (field("clientDataJSON")?, field("authenticatorData")?, field("signature")?);
    let data: Value = serde_json::from_slice(&client_data).map_err(|_| "clientDataJSON is not JSON".to_string())?;
    if data["type"].as_str() != Some("webauthn.get") || data["origin"].as_str() != Some(ORIGIN) {
        return Err("wrong client data type or origin".into());
    }
    let challenge = data["challenge"].as_str().ok_or("no challenge")?;
    if URL_SAFE_NO_PAD.decode(challenge).map_err(|_| "challenge is not base64url".to_string())?.len() != 32 {
        return Err("wrong challenge".into());
    }
    let rp_hash = ring::digest::digest(&ring::digest::SHA256, RP_ID.as_bytes());
    if auth_data.get(..32) != Some(rp_hash.as_ref()) || auth_data.get(32).is_none_or(|flags| flags & 1 == 0) {
        return Err("wrong relying party or no user presence".into());
    }
    let key = keys.get(id).ok_or("credential not found")?;
    let mut signed = auth_data;
    signed.extend_from_slice(ring::digest::digest(&ring::digest::SHA256, &client_data).as_ref());
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &key.public_key)
        .verify(&signed, &sig)
        .map_err(|_| "The signature is not valid".to_string())?;
    let method = json!({"recipeId": "webauthn", "recipeUserId": key.user_id, "tenantIds": ["public"],
        "email": key.email, "timeJoined": 0, "verified": false, "webauthn": {"credentialIds": [id]}});
    Ok(json!({"status": "OK", "user": {"id": key.user_id, "isPrimaryUser": false, "tenantIds": ["public"],
        "emails": [key.email], "phoneNumbers": [], "thirdParty": [], "webauthn": {"credentialIds": [id]},
        "loginMethods": [method], "timeJoined": 0}, "recipeUserId": key.user_id}))
}

// ---------------------------------------------------------------------------------------------
// The users' keys
// ---------------------------------------------------------------------------------------------

struct User {
    credential_id: String,
    pkcs8: Vec<u8>,
    user_handle: Vec<u8>,
    user_id: String,
    email: String,
}

fn read_users(path: &str) -> Result<Vec<User>> {
    let text = fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| format!("{path}: bad base64url {s:?}"));
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let [id, pkcs8, handle, user_id, email] = f.as_slice() else {
                return Err(format!("{path}: not five fields: {line}"));
            };
            Ok(User {
                credential_id: id.to_string(),
                pkcs8: b64(pkcs8)?,
                user_handle: b64(handle)?,
                user_id: user_id.to_string(),
                email: email.to_string(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A keep-alive HTTP/1.1 client
// ---------------------------------------------------------------------------------------------

struct Client {
    port: u16,
    headers: String,
    stream: Option<TcpStream>,
}

impl Client {
    fn new(port: u16, api_key: &str, cdi: &str) -> Client {
        let mut headers = format!("Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n");
        if !cdi.is_empty() {
            headers.push_str(&format!("cdi-version: {cdi}\r\n"));
        }
        if !api_key.is_empty() {
            headers.push_str(&format!("api-key: {api_key}\r\n"));
        }
        Client { port, headers, stream: None }
    }

    /// `POST path` with a JSON body: the answer's JSON (any HTTP status but 200 is an error).
    fn post(&mut self, path: &str, body: &str) -> Result<Value> {
        let text = match self.try_post(path, body) {
            Ok(t) => t,
            Err(_) if self.stream.take().is_some() => self.try_post(path, body).map_err(|e| format!("{path}: {e}"))?,
            Err(e) => return Err(format!("{path}: {e}")),
        };
        serde_json::from_slice(&text).map_err(|_| format!("{path}: not JSON: {}", String::from_utf8_lossy(&text)))
    }

    fn try_post(&mut self, path: &str, body: &str) -> io::Result<Vec<u8>> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let s = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)), TIMEOUT)?;
                s.set_read_timeout(Some(TIMEOUT))?;
                s.set_nodelay(true)?;
                self.stream.insert(s)
            }
        };
        let request = format!("POST {path} HTTP/1.1\r\n{}Content-Length: {}\r\n\r\n{body}", self.headers, body.len());
        stream.write_all(request.as_bytes())?;
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the end of the headers"));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status = head.split_whitespace().nth(1).unwrap_or_default().to_string();
        let len: usize = head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .ok_or_else(|| bad("no Content-Length"))?;
        let mut body = buf.split_off(head_end + 4);
        while body.len() < len {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed in the body"));
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(len);
        if status != "200" {
            return Err(bad(&format!("HTTP {status}: {}", String::from_utf8_lossy(&body))));
        }
        Ok(body)
    }
}

const TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// passkey-setup
// ---------------------------------------------------------------------------------------------

/// Sign up user `i` on the server: its line of the keys file.
fn sign_up(client: &mut Client, i: usize) -> Result<String> {
    let email = format!("passkey-{i}@example.com");
    let body = json!({"email": email, "relyingPartyName": RP_NAME, "relyingPartyId": RP_ID, "origin": ORIGIN,
        "timeout": 60000});
    let options = client.post("/public/recipe/webauthn/options/register", &body.to_string())?;
    if options["status"] != "OK" {
        return Err(format!("options/register: {options}"));
    }
    let mut credential = Credential::generate(Algorithm::Es256);
    let response = Ceremony::for_options(&options, ORIGIN).register(&mut credential, &options);
    let body = json!({"webauthnGeneratedOptionsId": options["webauthnGeneratedOptionsId"], "credential": response});
    let up = client.post("/public/recipe/webauthn/signup", &body.to_string())?;
    let user_id =
        up["recipeUserId"].as_str().filter(|_| up["status"] == "OK").ok_or_else(|| format!("signup: {up}"))?;
    Ok(format!(
        "{}\t{}\t{}\t{user_id}\t{email}\n",
        credential.id_b64(),
        URL_SAFE_NO_PAD.encode(&credential.pkcs8),
        URL_SAFE_NO_PAD.encode(&credential.user_handle)
    ))
}

pub fn setup(opts: &Opts) -> Result<()> {
    let port: u16 = opts.num("--port", 0)?;
    let users: usize = opts.num("--users", 1000)?;
    let threads: usize = opts.num("--threads", 4)?;
    let out = opts.get("--out").ok_or("passkey-setup needs --out")?;
    let (api_key, cdi) = (opts.get("--api-key").unwrap_or_default(), opts.get("--cdi").unwrap_or("5.5"));
    if port == 0 || users == 0 || threads == 0 {
        return Err("passkey-setup needs --port, and positive --users and --threads".into());
    }
    let lines: Vec<Result<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<String> {
                    let mut client = Client::new(port, api_key, cdi);
                    (t..users).step_by(threads).map(|i| sign_up(&mut client, i)).collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|_| Err("thread panicked".into()))).collect()
    });
    let mut text = String::new();
    for l in lines {
        text.push_str(&l?);
    }
    fs::write(out, text).map_err(|e| format!("writing {out}: {e}"))?;
    println!("users={users} file={out}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// passkey-run
// ---------------------------------------------------------------------------------------------

/// CPU-seconds (user + system) of a process, from `/proc/<pid>/stat` (`self` for this one).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return f64::NAN };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after.split_whitespace().map(|v| v.parse().unwrap_or(f64::NAN)).collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 ticks/s.
    (f.get(11).copied().unwrap_or(f64::NAN) + f.get(12).copied().unwrap_or(f64::NAN)) / 100.0
}

/// Busy CPU-seconds of the whole box (every core), from `/proc/stat`.
fn box_busy_seconds() -> f64 {
    let Ok(stat) = fs::read_to_string("/proc/stat") else { return f64::NAN };
    let Some(line) = stat.lines().next() else { return f64::NAN };
    let f: Vec<f64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap_or(0.0)).collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: f64 = f.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    busy / 100.0
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    flows: u64,
    requests: u64,
    not_ok: u64,
    errors: u64,
    first_error: Option<String>,
    /// µs per request and per sign-in.
    request_us: Vec<u32>,
    flow_us: Vec<u32>,
    /// µs building and signing assertions.
    assert_us: f64,
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// One sign-in of `credential` against the server (`baseline` false) or the bare handler.
fn one_sign_in(client: &mut Client, baseline: bool, credential: &mut Credential, t: &mut Tally) -> Result<bool> {
    let flow_start = Instant::now();
    let (options, options_id) = if baseline {
        let mut challenge = [0u8; 32];
        SystemRandom::new().fill(&mut challenge).map_err(|_| "no randomness".to_string())?;
        let options = json!({"relyingPartyId": RP_ID, "challenge": URL_SAFE_NO_PAD.encode(challenge)});
        (options, "bench-baseline".to_string())
    } else {
        let body = json!({"relyingPartyId": RP_ID, "relyingPartyName": RP_NAME, "origin": ORIGIN, "timeout": 60000});
        let started = Instant::now();
        let options = client.post("/public/recipe/webauthn/options/signin", &body.to_string())?;
        t.request_us.push(micros(started));
        t.requests += 1;
        if options["status"] != "OK" {
            return Ok(false);
        }
        let id = options["webauthnGeneratedOptionsId"].as_str().unwrap_or_default().to_string();
        (options, id)
    };
    let signing = Instant::now();
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(credential);
    let body = json!({"webauthnGeneratedOptionsId": options_id, "credential": assertion}).to_string();
    t.assert_us += signing.elapsed().as_secs_f64() * 1e6;
    let path = if baseline { "/webauthn/signin" } else { "/public/recipe/webauthn/signin" };
    let started = Instant::now();
    let answer = client.post(path, &body)?;
    t.request_us.push(micros(started));
    t.requests += 1;
    t.flow_us.push(micros(flow_start));
    Ok(answer["status"] == "OK")
}

/// The p-th percentile (0–100) of a sorted sample, in ms.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

pub fn run(opts: &Opts) -> Result<()> {
    let port: u16 = opts.num("--port", 0)?;
    let conns: usize = opts.num("--conns", 16)?;
    let seconds: f64 = opts.num("--seconds", 5.0)?;
    let baseline = match opts.get("--target") {
        Some("server") => false,
        Some("baseline") => true,
        other => return Err(format!("--target server|baseline, not {other:?}")),
    };
    let keys = opts.get("--keys").ok_or("passkey-run needs --keys")?;
    let (api_key, cdi) = (opts.get("--api-key").unwrap_or_default(), opts.get("--cdi").unwrap_or("5.5"));
    let pid = opts.get("--pid").unwrap_or("self").to_string();
    if port == 0 || conns == 0 || seconds <= 0.0 {
        return Err("passkey-run needs --port, and positive --conns and --seconds".into());
    }
    let users = read_users(keys)?;
    if users.len() < conns {
        return Err(format!("{keys}: {} users for {conns} connections", users.len()));
    }
    // Each connection's credentials, made before the clock starts. Synced passkeys report no
    // signature counter (0), so a user's sign-ins need no order across runs.
    let mut per_conn: Vec<Vec<Credential>> = (0..conns).map(|_| Vec::new()).collect();
    for (i, u) in users.iter().enumerate() {
        let c = Credential::es256_from_pkcs8(
            URL_SAFE_NO_PAD.decode(&u.credential_id).map_err(|_| "bad credential id".to_string())?,
            &u.pkcs8,
            u.user_handle.clone(),
            0,
        )
        .ok_or_else(|| format!("{keys}: not a P-256 key"))?;
        per_conn[i % conns].push(c);
    }
    // One sign-in before the clock starts: a set-up that does not work is an error, not a rate.
    {
        let mut client = Client::new(port, api_key, cdi);
        let mut t = Tally::default();
        if !one_sign_in(&mut client, baseline, &mut per_conn[0][0], &mut t)? {
            return Err("the first sign-in was not OK".into());
        }
    }
    let (cpu0, target0, box0) = (cpu_seconds("self"), cpu_seconds(&pid), box_busy_seconds());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let workers: Vec<_> = per_conn
            .iter_mut()
            .map(|credentials| {
                s.spawn(move || {
                    let mut client = Client::new(port, api_key, cdi);
                    let mut t = Tally::default();
                    let mut at = 0;
                    while Instant::now() < deadline {
                        let n = credentials.len();
                        match one_sign_in(&mut client, baseline, &mut credentials[at % n], &mut t) {
                            Ok(true) => t.flows += 1,
                            Ok(false) => t.not_ok += 1,
                            Err(e) => {
                                t.errors += 1;
                                t.first_error.get_or_insert(e);
                                client.stream = None;
                            }
                        }
                        at += 1;
                    }
                    t
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, target1, box1) = (cpu_seconds("self"), cpu_seconds(&pid), box_busy_seconds());
    let mut all = Tally::default();
    for t in tallies {
        all.flows += t.flows;
        all.requests += t.requests;
        all.not_ok += t.not_ok;
        all.errors += t.errors;
        all.assert_us += t.assert_us;
        all.request_us.extend(t.request_us);
        all.flow_us.extend(t.flow_us);
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    all.request_us.sort_unstable();
    all.flow_us.sort_unstable();
    let assertions = all.flows + all.not_ok;
    println!(
        "flows={} seconds={elapsed:.3} flows_per_s={:.1} requests_per_s={:.1} request_p50_ms={:.3} request_p99_ms={:.3} \
         flow_p50_ms={:.3} flow_p99_ms={:.3} not_ok={} errors={} client_cpu_s={:.2} client_assert_us={:.1} \
         target_cpu_s={:.2} box_busy_s={:.2}",
        all.flows,
        all.flows as f64 / elapsed,
        all.requests as f64 / elapsed,
        percentile_ms(&all.request_us, 50.0),
        percentile_ms(&all.request_us, 99.0),
        percentile_ms(&all.flow_us, 50.0),
        percentile_ms(&all.flow_us, 99.0),
        all.not_ok,
        all.errors,
        cpu1 - cpu0,
        all.assert_us / assertions.max(1) as f64,
        target1 - target0,
        box1 - box0,
    );
    if let Some(e) = all.first_error {
        eprintln!("passkey-run: first error: {e}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// passkey-verify-cost
// ---------------------------------------------------------------------------------------------

/// CPU µs per call of `f` (this process's CPU time, so that other work on the box does not
/// count), run for `seconds` on this thread after a tenth of that as warm-up.
fn per_call_us(seconds: f64, mut f: impl FnMut() -> bool) -> Result<f64> {
    let warm_up = Instant::now() + Duration::from_secs_f64(seconds / 10.0);
    while Instant::now() < warm_up {
        if !f() {
            return Err("a check failed".into());
        }
    }
    let (cpu, deadline) = (cpu_seconds("self"), Instant::now() + Duration::from_secs_f64(seconds));
    let mut n = 0u64;
    while Instant::now() < deadline {
        if !f() {
            return Err("a check failed".into());
        }
        n += 1;
    }
    Ok((cpu_seconds("self") - cpu) * 1e6 / n.max(1) as f64)
}

/// `passkey-verify-cost --seconds S`: one thread, the same assertion checked over and over, for
/// S seconds each: ring's ES256 verify alone (the point parsed each time), the bare handler's
/// whole work on the request body ([`sign_in`]), and the server's pure check of the assertion
/// (`st_core::webauthn::ceremony::verify_assertion`: webauthn-rs-core's parsing and its ES256
/// verify, the client data and authenticator data checks). Prints µs per check.
pub fn verify_cost(opts: &Opts) -> Result<()> {
    use st_core::storage::{WebauthnCredential, WebauthnOptions};
    let seconds: f64 = opts.num("--seconds", 3.0)?;
    let mut credential = Credential::generate(Algorithm::Es256);
    let mut challenge = [0u8; 32];
    SystemRandom::new().fill(&mut challenge).map_err(|_| "no randomness".to_string())?;
    let challenge = URL_SAFE_NO_PAD.encode(challenge);
    let options = WebauthnOptions {
        id: "cost".into(),
        tenant_id: "public".into(),
        challenge: challenge.clone(),
        email: None,
        rp_id: RP_ID.into(),
        rp_name: RP_NAME.into(),
        origin: ORIGIN.into(),
        expires_at: i64::MAX,
        created_at: 0,
        user_presence_required: false,
        user_verification: "preferred".into(),
    };
    let stored = WebauthnCredential {
        id: credential.id_b64(),
        rp_id: RP_ID.into(),
        user_id: "cost-user".into(),
        counter: 0,
        public_key: credential.attested_credential_data(),
        transports: "null".into(),
        created_at: 0,
        updated_at: 0,
    };
    credential.counter_step = 0;
    let assertion = Ceremony::for_options(&json!({"relyingPartyId": RP_ID, "challenge": challenge}), ORIGIN)
        .assert(&mut credential);
    let body = json!({"webauthnGeneratedOptionsId": "cost", "credential": assertion}).to_string();
    let mut keys = Passkeys::new();
    let public_key =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &credential.pkcs8, &SystemRandom::new())
            .map_err(|_| "P-256 key".to_string())?
            .public_key()
            .as_ref()
            .to_vec();
    keys.insert(
        credential.id_b64(),
        Passkey { public_key: public_key.clone(), user_id: "cost-user".into(), email: "c@example.com".into() },
    );
    let b64 = |name: &str| URL_SAFE_NO_PAD.decode(assertion["response"][name].as_str().unwrap_or_default());
    let (client_data, mut signed, sig) = (
        b64("clientDataJSON").map_err(|e| e.to_string())?,
        b64("authenticatorData").map_err(|e| e.to_string())?,
        b64("signature").map_err(|e| e.to_string())?,
    );
    signed.extend_from_slice(ring::digest::digest(&ring::digest::SHA256, &client_data).as_ref());
    let ring_us = per_call_us(seconds, || {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &public_key).verify(&signed, &sig).is_ok()
    })?;
    let bare_us = per_call_us(seconds, || sign_in(&keys, body.as_bytes()).is_ok())?;
    let server_us =
        per_call_us(seconds, || st_core::webauthn::ceremony::verify_assertion(&options, &stored, &assertion).is_ok())?;
    let sign_us = per_call_us(seconds, || !credential.sign(&signed).is_empty())?;
    println!(
        "ring_verify_us={ring_us:.1} bare_handler_us={bare_us:.1} server_verify_assertion_us={server_us:.1} \
         client_sign_us={sign_us:.1}"
    );
    Ok(())
}
