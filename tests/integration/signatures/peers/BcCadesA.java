// CAdES-A by Bouncy Castle (Debian's libbcpkix-java), code we did not write for the ASN.1:
//   java -cp bcprov.jar:bcpkix.jar:bcutil.jar BcCadesA.java IN.p7s TSA_KEY.pem TSA_CERT.pem OUT.p7s
// Adds an archive-time-stamp-v2 (id-aa-ets-archiveTimestampV2, RFC 5126 §6.4.1) to the first
// signer of IN (attached): the imprint is SHA-256 over the DER of encapContentInfo, the
// certificates [0] and crls [1] fields when present, the SignerInfo fields version to signature
// and the unsigned attributes as [1] -- in the DER-sorted order Bouncy Castle writes a SET in,
// which is the order they have once the time-stamp attribute is added. The token is made by
// BC's own TimeStampTokenGenerator with the given unit. Test input only: the tests assert.
import java.io.*;
import java.math.BigInteger;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.util.*;
import org.bouncycastle.asn1.*;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.cms.SignedData;
import org.bouncycastle.asn1.cms.SignerInfo;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoGeneratorBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.tsp.*;

public class BcCadesA {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        CMSSignedData document = new CMSSignedData(Files.readAllBytes(Paths.get(args[0])));
        SignedData signedData = SignedData.getInstance(document.toASN1Structure().getContent());
        SignerInfo signerInfo = SignerInfo.getInstance(signedData.getSignerInfos().getObjectAt(0));
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        data.write(signedData.getEncapContentInfo().getEncoded(ASN1Encoding.DER));
        if (signedData.getCertificates() != null) {
            data.write(new DERTaggedObject(false, 0, signedData.getCertificates())
                .getEncoded(ASN1Encoding.DER));
        }
        if (signedData.getCRLs() != null) {
            data.write(new DERTaggedObject(false, 1, signedData.getCRLs())
                .getEncoded(ASN1Encoding.DER));
        }
        data.write(signerInfo.getVersion().getEncoded(ASN1Encoding.DER));
        data.write(signerInfo.getSID().getEncoded(ASN1Encoding.DER));
        data.write(signerInfo.getDigestAlgorithm().getEncoded(ASN1Encoding.DER));
        data.write(new DERTaggedObject(false, 0, signerInfo.getAuthenticatedAttributes())
            .getEncoded(ASN1Encoding.DER));
        data.write(signerInfo.getDigestEncryptionAlgorithm().getEncoded(ASN1Encoding.DER));
        data.write(signerInfo.getEncryptedDigest().getEncoded(ASN1Encoding.DER));
        ASN1EncodableVector existing = new ASN1EncodableVector();
        ASN1Set unsigned = signerInfo.getUnauthenticatedAttributes();
        for (int i = 0; unsigned != null && i < unsigned.size(); i++) {
            existing.add(unsigned.getObjectAt(i));
        }
        ASN1Set sorted = new DERSet(existing);
        data.write(new DERTaggedObject(false, 1, sorted).getEncoded(ASN1Encoding.DER));
        byte[] imprint = MessageDigest.getInstance("SHA-256").digest(data.toByteArray());

        PrivateKey key;
        try (PEMParser parser = new PEMParser(new FileReader(args[1]))) {
            key = new JcaPEMKeyConverter().setProvider("BC")
                .getPrivateKey((PrivateKeyInfo) parser.readObject());
        }
        X509Certificate unit;
        try (InputStream in = new FileInputStream(args[2])) {
            unit = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        TimeStampTokenGenerator generator = new TimeStampTokenGenerator(
            new JcaSimpleSignerInfoGeneratorBuilder().setProvider("BC")
                .build("SHA256withRSA", key, unit),
            new JcaDigestCalculatorProviderBuilder().build().get(
                new org.bouncycastle.asn1.x509.AlgorithmIdentifier(NISTObjectIdentifiers.id_sha256)),
            new ASN1ObjectIdentifier("1.2.3.4.1"));
        generator.addCertificates(new JcaCertStore(List.of(unit)));
        TimeStampRequestGenerator requests = new TimeStampRequestGenerator();
        requests.setCertReq(true);  // the unit's certificate goes in the token
        TimeStampRequest request = requests.generate(NISTObjectIdentifiers.id_sha256, imprint);
        TimeStampToken token = generator.generate(request, BigInteger.valueOf(7), new Date());

        AttributeTable table = new AttributeTable(sorted).add(
            new ASN1ObjectIdentifier("1.2.840.113549.1.9.16.2.48"),  // id-aa-ets-archiveTimestampV2
            token.toCMSSignedData().toASN1Structure());
        SignerInformation signer = document.getSignerInfos().getSigners().iterator().next();
        SignerInformation archived = SignerInformation.replaceUnsignedAttributes(signer, table);
        CMSSignedData result = CMSSignedData.replaceSigners(
            document, new SignerInformationStore(archived));
        Files.write(Paths.get(args[3]), result.getEncoded("DER"));
    }
}
