// CAdES-LT SignedData made by Bouncy Castle (Debian's libbcpkix-java), a signer we did not write:
//   java -cp bcprov.jar:bcpkix.jar:bcutil.jar BcCmsLt.java KEY.pem CERT.pem IN OUT.p7s EXTRA...
// An attached SHA256withRSA signature over IN's bytes (content-type, signing-time,
// message-digest, ESS signing-certificate-v2), whose SignedData also carries each EXTRA file:
// *.pem a certificate, *.crl a DER CRL (CertificateList in crls), *.ocsp a DER OCSPResponse (in
// crls as OtherRevocationInfoFormat id-ri-ocsp-response, RFC 5940, through BC's
// addOtherRevocationInfo). Test input only: the tests assert.
import java.io.*;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.util.*;
import org.bouncycastle.asn1.*;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.cms.CMSObjectIdentifiers;
import org.bouncycastle.asn1.ess.ESSCertIDv2;
import org.bouncycastle.asn1.ess.SigningCertificateV2;
import org.bouncycastle.asn1.ocsp.OCSPResponse;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CRLHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

public class BcCmsLt {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        PrivateKey key;
        try (PEMParser parser = new PEMParser(new FileReader(args[0]))) {
            key = new JcaPEMKeyConverter().setProvider("BC")
                .getPrivateKey((PrivateKeyInfo) parser.readObject());
        }
        X509Certificate cert = certificate(args[1]);
        byte[] certHash = MessageDigest.getInstance("SHA-256").digest(cert.getEncoded());
        ASN1EncodableVector attributes = new ASN1EncodableVector();
        attributes.add(new Attribute(PKCSObjectIdentifiers.id_aa_signingCertificateV2,
            new DERSet(new SigningCertificateV2(new ESSCertIDv2[] {new ESSCertIDv2(certHash)}))));
        CMSSignedDataGenerator generator = new CMSSignedDataGenerator();
        generator.addSignerInfoGenerator(
            new JcaSignerInfoGeneratorBuilder(
                    new JcaDigestCalculatorProviderBuilder().setProvider("BC").build())
                .setSignedAttributeGenerator(
                    new DefaultSignedAttributeTableGenerator(new AttributeTable(attributes)))
                .build(new JcaContentSignerBuilder("SHA256withRSA").setProvider("BC").build(key),
                    cert));
        List<X509Certificate> certificates = new ArrayList<>(List.of(cert));
        for (int i = 4; i < args.length; i++) {
            byte[] data = Files.readAllBytes(Paths.get(args[i]));
            if (args[i].endsWith(".pem")) {
                certificates.add(certificate(args[i]));
            } else if (args[i].endsWith(".crl")) {
                generator.addCRL(new X509CRLHolder(data));
            } else {
                generator.addOtherRevocationInfo(
                    CMSObjectIdentifiers.id_ri_ocsp_response, OCSPResponse.getInstance(data));
            }
        }
        generator.addCertificates(new JcaCertStore(certificates));
        byte[] in = Files.readAllBytes(Paths.get(args[2]));
        CMSSignedData result = generator.generate(new CMSProcessableByteArray(in), true);
        Files.write(Paths.get(args[3]), result.getEncoded("DER"));
    }

    static X509Certificate certificate(String path) throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }
}
