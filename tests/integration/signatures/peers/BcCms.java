// CMS signatures made by Bouncy Castle (Debian's libbcpkix-java), a signer we did not write:
//   java -cp bcprov.jar:bcpkix.jar:bcutil.jar BcCms.java < JOBS
// Each line of JOBS is one job, fields separated by tabs:
//   sign         ALGORITHM KEY.pem CERT.pem IN OUT.p7s   attached SignedData over IN's bytes
//   countersign  ALGORITHM KEY.pem CERT.pem IN.p7s OUT.p7s [nested]
// ALGORITHM is a JCA name (SHA256withRSA, SHA3-256withRSA, SHA256withPLAIN-ECDSA, Ed25519,
// Ed448). Signed attributes: content-type (not for counter-signatures, RFC 5652 §11.4),
// signing-time, message-digest, and an ESS signing-certificate-v2 reference. countersign adds
// one counter-signature to every signer of IN ("nested": and one to that counter-signature).
// Test input only: the tests assert.
import java.io.*;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.util.*;
import org.bouncycastle.asn1.*;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.ess.ESSCertIDv2;
import org.bouncycastle.asn1.ess.SigningCertificateV2;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.util.CollectionStore;

public class BcCms {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        BufferedReader jobs = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        for (String line = jobs.readLine(); line != null; line = jobs.readLine()) {
            if (line.isBlank()) continue;
            String[] job = line.split("\t");
            PrivateKey key = readKey(job[2]);
            X509Certificate cert = readCertificate(job[3]);
            CMSSignedDataGenerator generator = generator(job[1], key, cert);
            byte[] in = Files.readAllBytes(Paths.get(job[4]));
            CMSSignedData result;
            if (job[0].equals("sign")) {
                generator.addCertificates(new JcaCertStore(List.of(cert)));
                result = generator.generate(new CMSProcessableByteArray(in), true);
            } else {
                result = counterSign(new CMSSignedData(in), generator, cert,
                    job.length > 6 && job[6].equals("nested"));
            }
            Files.write(Paths.get(job[5]), result.getEncoded("DER"));
        }
    }

    static CMSSignedData counterSign(CMSSignedData signed, CMSSignedDataGenerator generator,
            X509Certificate cert, boolean nested) throws Exception {
        List<SignerInformation> signers = new ArrayList<>();
        for (SignerInformation signer : signed.getSignerInfos().getSigners()) {
            SignerInformationStore counters = generator.generateCounterSigners(signer);
            if (nested) {
                List<SignerInformation> deeper = new ArrayList<>();
                for (SignerInformation counter : counters.getSigners()) {
                    deeper.add(SignerInformation.addCounterSigners(
                        counter, generator.generateCounterSigners(counter)));
                }
                counters = new SignerInformationStore(deeper);
            }
            signers.add(SignerInformation.addCounterSigners(signer, counters));
        }
        CMSSignedData result = CMSSignedData.replaceSigners(signed, new SignerInformationStore(signers));
        // The counter-signer's certificate joins the SignedData's (RFC 5652 §5.1 certificates).
        List<Object> certificates = new ArrayList<>(result.getCertificates().getMatches(null));
        certificates.add(new JcaX509CertificateHolder(cert));
        return CMSSignedData.replaceCertificatesAndCRLs(
            result, new CollectionStore<>(certificates), null, null);
    }

    static CMSSignedDataGenerator generator(String algorithm, PrivateKey key, X509Certificate cert)
            throws Exception {
        byte[] certHash = MessageDigest.getInstance("SHA-256").digest(cert.getEncoded());
        SigningCertificateV2 reference =
            new SigningCertificateV2(new ESSCertIDv2[] {new ESSCertIDv2(certHash)});
        ASN1EncodableVector attributes = new ASN1EncodableVector();
        attributes.add(new Attribute(
            PKCSObjectIdentifiers.id_aa_signingCertificateV2, new DERSet(reference)));
        CMSSignedDataGenerator generator = new CMSSignedDataGenerator();
        generator.addSignerInfoGenerator(
            new JcaSignerInfoGeneratorBuilder(
                    new JcaDigestCalculatorProviderBuilder().setProvider("BC").build())
                .setSignedAttributeGenerator(
                    new DefaultSignedAttributeTableGenerator(new AttributeTable(attributes)))
                .build(new JcaContentSignerBuilder(algorithm).setProvider("BC").build(key), cert));
        return generator;
    }

    static PrivateKey readKey(String path) throws Exception {
        try (PEMParser parser = new PEMParser(new FileReader(path))) {
            return new JcaPEMKeyConverter().setProvider("BC")
                .getPrivateKey((PrivateKeyInfo) parser.readObject());
        }
    }

    static X509Certificate readCertificate(String path) throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }
}
