// Sign documents with xadesjs (PeculiarVentures), as a peer of the signature tests.
// Usage: node sign.mjs SPEC.json -- SPEC: {"jobs": [{document, key (PKCS#8 DER, Base64),
// certificate (DER, Base64), ec, hash, signingTime, uri, transforms, policy, timestamp,
// output}]}. With timestamp {config, c14n}: XAdES-T -- the SignatureValue canonicalised by
// xmldsigjs (c14n: "c14n" or "exc-c14n"), given the namespaces in scope from its ancestors as
// its own verification does, its SHA-256 time-stamped by `openssl ts -reply -config CONFIG`, and
// a SignatureTimeStamp added with xadesjs's own classes.
import * as xadesjs from 'xadesjs';
import * as xmldsigjs from 'xmldsigjs';
import * as xmlcore from 'xml-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as xmldom from '@xmldom/xmldom';
import xpath from 'xpath';
import { readFileSync, writeFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';

xadesjs.setNodeDependencies({
  XMLSerializer: xmldom.XMLSerializer,
  DOMParser: xmldom.DOMParser,
  DOMImplementation: xmldom.DOMImplementation,
  xpath,
});
xadesjs.Application.setEngine('NodeJS', webcrypto);

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const job of spec.jobs) {
  const hash = job.hash || 'SHA-256';
  const importParams = job.ec
    ? { name: 'ECDSA', namedCurve: 'P-256' }
    : { name: 'RSASSA-PKCS1-v1_5', hash };
  const key = await webcrypto.subtle.importKey(
    'pkcs8', Buffer.from(job.key, 'base64'), importParams, false, ['sign']);
  const document = xadesjs.Parse(job.document);
  const reference = { hash, transforms: job.transforms || ['enveloped', 'exc-c14n'] };
  if (job.uri !== undefined && job.uri !== null) reference.uri = job.uri;
  const options = {
    x509: [job.certificate],
    signingCertificate: job.signingCertificate || job.certificate,
    signingTime: { value: new Date(job.signingTime) },
    references: [reference],
  };
  if (job.policy) options.policy = job.policy;
  const signed = new xadesjs.SignedXml();
  const algorithm = job.ec ? { name: 'ECDSA', hash } : { name: 'RSASSA-PKCS1-v1_5' };
  const signature = await signed.Sign(algorithm, key, document, options);
  document.documentElement.appendChild(signature.GetXml());
  if (job.timestamp) await timestamp(signed, document, job.timestamp);
  writeFileSync(job.output, new xmldom.XMLSerializer().serializeToString(document));
}

async function timestamp(signed, document, options) {
  // A function declaration is hoisted; a top-level const would not be set yet.
  const algorithm = {
    'c14n': 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315',
    'exc-c14n': 'http://www.w3.org/2001/10/xml-exc-c14n#',
  }[options.c14n];
  const element = document.documentElement.lastChild; // the ds:Signature just appended
  const value = xadesjs.Select(element, './/*[local-name()="SignatureValue"]')[0];
  const inherited = new xmlcore.NamespaceManager();
  const seen = new Set();
  for (let node = value.parentNode; node && node.nodeType === 1; node = node.parentNode) {
    for (let i = 0; i < node.attributes.length; i++) {
      const attribute = node.attributes.item(i);
      if (attribute.prefix !== 'xmlns' && attribute.name !== 'xmlns') continue;
      const prefix = attribute.prefix === 'xmlns' ? attribute.localName : '';
      if (seen.has(prefix)) continue; // the nearest declaration wins
      seen.add(prefix);
      inherited.Add({ prefix, namespace: attribute.value });
    }
  }
  const canonicalizer = new xmldsigjs.XmlCanonicalizer(
    false, options.c14n === 'exc-c14n', inherited);
  const octets = Buffer.from(canonicalizer.Canonicalize(value), 'utf8');
  const digest = Buffer.from(await webcrypto.subtle.digest('SHA-256', octets));
  const work = mkdtempSync(join(tmpdir(), 'xadesjs-tsa-'));
  execFileSync('openssl', ['ts', '-query', '-digest', digest.toString('hex'), '-sha256',
    '-cert', '-no_nonce', '-out', join(work, 'query.tsq')], { stdio: 'pipe' });
  execFileSync('openssl', ['ts', '-reply', '-config', options.config, '-queryfile',
    join(work, 'query.tsq'), '-token_out', '-out', join(work, 'token.der')], { stdio: 'pipe' });
  const stamp = new xadesjs.xml.SignatureTimeStamp();
  stamp.CanonicalizationMethod.Algorithm = algorithm;
  const encapsulated = new xadesjs.xml.EncapsulatedTimeStamp();
  encapsulated.Value = new Uint8Array(readFileSync(join(work, 'token.der')));
  stamp.EncapsulatedTimeStamp.Add(encapsulated);
  signed.UnsignedProperties.UnsignedSignatureProperties.Add(stamp);
  document.documentElement.replaceChild(signed.GetXml(), element);
}
