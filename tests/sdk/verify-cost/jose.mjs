// Usage: node tests/sdk/verify-cost/jose.mjs (after tests/sdk/run.sh installed tests/sdk/node).
// µs per jwtVerify (jose, as supertokens-node verifies access tokens) for RS256, ES256, EdDSA.
import { createRequire } from "module";
// the jose that supertokens-node 24 in ../node resolves
const require = createRequire(new URL("../node/node_modules/supertokens-node/package.json", import.meta.url));
const jose = require("jose");
const payload = { sub: "bench-user-1", tId: "public", rsub: "bench-user-1", sessionHandle: "6f1c9a4e-3a8e-4d8a-9b2a-1f5a2c3d4e5f", refreshTokenHash1: "a".repeat(64), parentRefreshTokenHash1: null, antiCsrfToken: null, iss: "http://localhost:3001/auth" };
const setups = {};
for (const alg of ["RS256", "ES256", "EdDSA"]) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : {});
  const jwt = await new jose.SignJWT(payload).setProtectedHeader({ alg, kid: "k1", typ: "JWT", version: "5" }).setIssuedAt().setExpirationTime("1h").sign(privateKey);
  const jwk = await jose.exportJWK(publicKey); jwk.kid = "k1"; jwk.alg = alg;
  const jwks = jose.createLocalJWKSet({ keys: [jwk] });
  for (let i = 0; i < 200; i++) await jose.jwtVerify(jwt, jwks);
  setups[alg] = { jwt, jwks, samples: [] };
}
// interleaved: 15 rounds of 0.25 s per algorithm; the median round
for (let r = 0; r < 15; r++) for (const [alg, s] of Object.entries(setups)) {
  let n = 0; const t0 = process.hrtime.bigint(); const end = t0 + 250_000_000n;
  while (process.hrtime.bigint() < end) { await jose.jwtVerify(s.jwt, s.jwks); n++; }
  s.samples.push(Number(process.hrtime.bigint() - t0) / 1000 / n);
}
for (const [alg, s] of Object.entries(setups)) {
  const v = s.samples.sort((a, b) => a - b);
  console.log(`node ${process.version} jose ${require("jose/package.json").version} alg=${alg} verify_us median=${v[7].toFixed(1)} min=${v[0].toFixed(1)}`);
}
