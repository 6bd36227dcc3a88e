# Usage: target/sdk-venv/bin/python tests/sdk/verify-cost/pyjwt_cost.py (any venv of tests/sdk/run.sh).
# µs per jwt.decode (PyJWT + cryptography, as supertokens-python verifies access tokens).
import time, jwt, cryptography
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519
payload = {"sub": "bench-user-1", "tId": "public", "exp": int(time.time()) + 3600, "iat": int(time.time())}
keys = {"RS256": rsa.generate_private_key(65537, 2048), "ES256": ec.generate_private_key(ec.SECP256R1()), "EdDSA": ed25519.Ed25519PrivateKey.generate()}
setups = {}
for alg, k in keys.items():
    tok = jwt.encode(payload, k, algorithm=alg, headers={"kid": "k1", "version": "5"})
    pub = jwt.PyJWK.from_dict({**jwt.algorithms.get_default_algorithms()[alg].to_jwk(k.public_key(), as_dict=True), "alg": alg, "kid": "k1"})
    for _ in range(200): jwt.decode(tok, pub.key, algorithms=[alg])
    setups[alg] = (tok, pub.key, [])
for r in range(15):
    for alg, (tok, key, samples) in setups.items():
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.25: jwt.decode(tok, key, algorithms=[alg]); n += 1
        samples.append((time.perf_counter() - t0) * 1e6 / n)
for alg, (_, _, samples) in setups.items():
    samples.sort()
    print(f"python PyJWT {jwt.__version__} cryptography {cryptography.__version__} alg={alg} verify_us median={samples[7]:.1f} min={samples[0]:.1f}")
