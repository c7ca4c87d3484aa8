// Goldtrail's documents under third-party JSON-LD and Data Integrity code, offline:
// jsonld.js in safe mode, and Digital Bazaar's eddsa-jcs-2022 cryptosuite. The documents come
// from a real server (tests/test_jsonld.py writes them to GOLDTRAIL_JSONLD_DIR).
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {join} from 'node:path';
import {test} from 'node:test';

import {contexts as credentialContexts} from '@digitalbazaar/credentials-context';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import jsonld from 'jsonld';
import jsigs from 'jsonld-signatures';

const require = createRequire(import.meta.url);
const multikey = require('@digitalbazaar/multikey-context');
const didContext = require('did-context');

const folder = process.env.GOLDTRAIL_JSONLD_DIR;
const read = name => JSON.parse(readFileSync(join(folder, name), 'utf8'));

// Goldtrail's own context, as the service serves it at /contexts/credentials/v1.
const documents = new Map([
  ...credentialContexts,
  ...multikey.contexts,
  ...didContext.contexts,
  ['https://w3id.org/goldtrail/credentials/v1', read('credentials-context.json')],
]);

// did:key documents are made from the key itself (did:key method, W3C CCG): nothing fetched.
function didKeyDocuments(did) {
  const fingerprint = did.slice('did:key:'.length);
  const method = {
    '@context': multikey.CONTEXT_URL,
    id: `${did}#${fingerprint}`,
    type: 'Multikey',
    controller: did,
    publicKeyMultibase: fingerprint,
  };
  const controller = {
    '@context': [didContext.CONTEXT_URL, multikey.CONTEXT_URL],
    id: did,
    verificationMethod: [method],
    assertionMethod: [method.id],
  };
  return {method, controller};
}

async function documentLoader(url) {
  if (documents.has(url)) {
    return {contextUrl: null, documentUrl: url, document: documents.get(url)};
  }
  if (url.startsWith('did:key:')) {
    const {method, controller} = didKeyDocuments(url.split('#')[0]);
    return {contextUrl: null, documentUrl: url, document: url.includes('#') ? method : controller};
  }
  throw new Error(`not loaded offline: ${url}`);
}

test('the credential expands in safe mode, its figures kept whole', async () => {
  const credential = read('credential.json');
  const [expanded] = await jsonld.expand(credential, {documentLoader, safe: true});
  const vc = 'https://w3id.org/goldtrail/vc#';
  const subject = expanded['https://www.w3.org/2018/credentials#credentialSubject'][0];
  assert.deepEqual(subject['@type'], [`${vc}GoldLot`]);
  assert.ok(expanded['@type'].includes(`${vc}GreenGoldPassport`));
  for (const name of ['summary', 'metrics', 'passport', 'checkpoint']) {
    const [literal] = subject[`${vc}${name}`];
    assert.equal(literal['@type'], '@json');
    assert.deepEqual(literal['@value'], credential.credentialSubject[name]);
  }
});

test("Digital Bazaar's eddsa-jcs-2022 verifies the credential, and refuses a changed one", async () => {
  const credential = read('credential.json');
  const verify = document => jsigs.verify(document, {
    suite: new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()}),
    purpose: new jsigs.purposes.AssertionProofPurpose(),
    documentLoader,
  });
  const result = await verify(credential);
  assert.equal(result.verified, true, JSON.stringify(result.error));
  const changed = structuredClone(credential);
  changed.credentialSubject.metrics.grade = 'A';
  assert.equal((await verify(changed)).verified, false);
});

function jsonLiterals(node, found = []) {
  if (Array.isArray(node)) {
    node.forEach(item => jsonLiterals(item, found));
  } else if (node && typeof node === 'object') {
    if (node['@type'] === '@json' && '@value' in node) {
      found.push(node['@value']);
    } else {
      Object.values(node).forEach(value => jsonLiterals(value, found));
    }
  }
  return found;
}

test('the EPCIS document keeps every signed gt: member through expansion', async () => {
  const epcis = read('epcis.json');
  // GS1's own context cannot be fetched here; Goldtrail's inline context is what defines the
  // gt: members, so each event is expanded with it alone (EPCIS's own terms, undefined
  // without GS1's context, are dropped; every gt: member must come through whole).
  const ours = epcis['@context'][1];
  let checked = 0;
  for (const event of epcis.epcisBody.eventList) {
    const literals = jsonLiterals(
      await jsonld.expand({...event, '@context': [ours]}, {documentLoader, safe: false}),
    );
    for (const name of ['data', 'entry', 'inputs', 'outputs', 'prev', 'lot']) {
      if (`gt:${name}` in event) {
        const value = event[`gt:${name}`];
        assert.ok(
          literals.some(literal => JSON.stringify(literal) === JSON.stringify(value)),
          `gt:${name} of entry ${event['gt:entry'].seq} is kept whole`,
        );
        checked += 1;
      }
    }
  }
  assert.ok(checked >= 4 * epcis.epcisBody.eventList.length);
});
