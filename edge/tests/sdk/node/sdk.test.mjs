// The real Flagsmith Node SDK (flagsmith-nodejs 8.1.2) against a running flagedge
// edge: remote evaluation of environment flags and identity flags with traits.
// The edge binary is FLAGEDGE_EDGE_BIN (built by scripts/test.sh).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flagsmith } from 'flagsmith-nodejs';

const root = resolve(fileURLToPath(import.meta.url), '../../../../..');
const clientKey = 'demo-shop-client-key';
let edge;
let apiUrl;

const freePort = () =>
  new Promise((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });

before(async () => {
  const documents = mkdtempSync(join(tmpdir(), 'flagedge-node-'));
  for (const file of ['shop.json', 'server-keys.json']) {
    cpSync(join(root, 'examples/environments', file), join(documents, file));
  }
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}/api/v1/`;
  const binary = process.env.FLAGEDGE_EDGE_BIN ?? join(root, 'target/debug/flagedge-edge');
  edge = spawn(binary, ['--bind', `127.0.0.1:${port}`, '--documents-dir', documents], { stdio: 'ignore' });
  for (let attempt = 0; attempt < 400; attempt++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ready`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the edge did not become ready');
});

after(() => edge?.kill('SIGTERM'));

const raw = async (path, init = {}) => {
  const response = await fetch(apiUrl + path, {
    ...init,
    headers: { 'X-Environment-Key': clientKey, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
  });
  assert.equal(response.status, 200);
  return response.json();
};

// The SDK reads a null value as undefined (`feature_state_value ?? value`).
const byName = (flags) => Object.fromEntries(flags.allFlags().map((f) => [f.featureName, [f.enabled, f.value ?? null]]));

test('environment flags equal the edge response', async () => {
  const sdk = new Flagsmith({ environmentKey: clientKey, apiUrl });
  const flags = await sdk.getEnvironmentFlags();
  const expected = Object.fromEntries((await raw('flags/')).map((f) => [f.feature.name, [f.enabled, f.feature_state_value]]));
  assert.deepEqual(byName(flags), expected);
  assert.equal(flags.getFeatureValue('max_cart_items'), 20);
  assert.equal(flags.isFeatureEnabled('new_checkout'), false);
  assert.equal(byName(flags).payment_provider_secret_route, undefined);
});

test('identity flags with traits', async () => {
  const sdk = new Flagsmith({ environmentKey: clientKey, apiUrl });
  const pro = await sdk.getIdentityFlags('alice', { plan: 'pro', age: 31 });
  assert.equal(pro.getFeatureValue('new_checkout'), 'v2');
  assert.equal(pro.isFeatureEnabled('new_checkout'), true);
  assert.equal(pro.getFeatureValue('max_cart_items'), 100);
  const expected = await raw('identities/', {
    method: 'POST',
    body: JSON.stringify({ identifier: 'alice', traits: [{ trait_key: 'plan', trait_value: 'pro' }, { trait_key: 'age', trait_value: 31 }] }),
  });
  assert.deepEqual(byName(pro), Object.fromEntries(expected.flags.map((f) => [f.feature.name, [f.enabled, f.feature_state_value]])));
  const free = await sdk.getIdentityFlags('bob', { plan: 'free' });
  assert.equal(free.getFeatureValue('new_checkout'), 'v1');
  const vip = await sdk.getIdentityFlags('vip@example.com');
  assert.equal(vip.getFeatureValue('max_cart_items'), 1000);
});
