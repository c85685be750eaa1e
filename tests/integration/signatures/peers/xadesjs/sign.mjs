// Sign documents with xadesjs (PeculiarVentures), as a peer of the signature tests.
// Usage: node sign.mjs SPEC.json -- SPEC: {"jobs": [{document, key (PKCS#8 DER, Base64),
// certificate (DER, Base64), ec, hash, signingTime, uri, transforms, policy, output}]}.
import * as xadesjs from 'xadesjs';
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
  writeFileSync(job.output, new xmldom.XMLSerializer().serializeToString(document));
}
