// Signs the issue-12 scenarios with Apache Santuario (Debian's libxml-security-java), through
// its JSR 105 provider: java -cp xmlsec.jar:slf4j-api.jar:slf4j-nop.jar SantuarioSign.java
//   KEY.pem CERT.pem OUTPUT_DIR
// Writes one <scenario>.xml per scenario. Test input only: the tests assert.
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.*;
import javax.xml.crypto.dom.DOMStructure;
import javax.xml.crypto.dsig.*;
import javax.xml.crypto.dsig.dom.DOMSignContext;
import javax.xml.crypto.dsig.keyinfo.*;
import javax.xml.crypto.dsig.spec.*;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.*;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.w3c.dom.*;

public class SantuarioSign {
    static final String DS = XMLSignature.XMLNS;
    static final String INVOICE =
        "<Invoice xmlns=\"urn:example:invoice\" xmlns:x=\"urn:example:extra\" Id=\"inv\">"
        + "<Line Id=\"l1\"><Amount>10</Amount><Note xmlns=\"\"><Free>plain</Free></Note></Line>"
        + "<Line Id=\"l2\"><Amount>20</Amount></Line></Invoice>";
    static final String INVOICE_BASE =
        "<Invoice xmlns=\"urn:example:invoice\" xml:base=\"http://a.example/d/\" Id=\"inv\">"
        + "<Wrap xml:base=\"./s/./t/\"><Line Id=\"l1\" xml:base=\"../x\"><Amount>10</Amount>"
        + "</Line></Wrap></Invoice>";
    static final String PAYLOAD = "SGVsbG8gd29ybGQsIHRoaXMgaXMgdGhlIHNpZ25lZCBkb2N1bWVudC4=";

    static XMLSignatureFactory fac;
    static PrivateKey key;
    static X509Certificate cert;

    public static void main(String[] args) throws Exception {
        Security.insertProviderAt(new org.apache.jcp.xml.dsig.internal.dom.XMLDSigRI(), 1);
        fac = XMLSignatureFactory.getInstance("DOM", "ApacheXMLDSig");
        String pem = Files.readString(Path.of(args[0]))
            .replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        key = KeyFactory.getInstance("RSA").generatePrivate(
            new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem)));
        try (InputStream in = new FileInputStream(args[1])) {
            cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        Path out = Path.of(args[2]);
        for (String prefix : new String[] {"", "ds"}) {
            String tag = prefix.isEmpty() ? "unprefixed" : "prefixed";
            write(out, tag + "-enveloped-c14n", enveloped(prefix, CanonicalizationMethod.INCLUSIVE,
                List.of(ref("", List.of(enveloped(), c14n(CanonicalizationMethod.INCLUSIVE))))));
            write(out, tag + "-element-c14n11", enveloped(prefix, CanonicalizationMethod.INCLUSIVE_11,
                List.of(ref("#l1", List.of(c14n(CanonicalizationMethod.INCLUSIVE_11))))));
        }
        write(out, "unprefixed-element-c14n-with-comments", enveloped("",
            CanonicalizationMethod.INCLUSIVE_WITH_COMMENTS,
            List.of(ref("#l1", List.of(c14n(CanonicalizationMethod.INCLUSIVE_WITH_COMMENTS))))));
        write(out, "exc-prefix-list", enveloped("", CanonicalizationMethod.EXCLUSIVE,
            List.of(ref("#l1", List.of(fac.newTransform(CanonicalizationMethod.EXCLUSIVE,
                new ExcC14NParameterSpec(List.of("#default", "x"))))))));
        write(out, "xpath", enveloped("", CanonicalizationMethod.INCLUSIVE,
            List.of(ref("", List.of(fac.newTransform(Transform.XPATH,
                new XPathFilterParameterSpec("not(ancestor-or-self::dsig:Signature)",
                    Map.of("dsig", DS))), c14n(CanonicalizationMethod.INCLUSIVE))))));
        write(out, "xpath-filter2", enveloped("", CanonicalizationMethod.INCLUSIVE_11,
            List.of(ref("", List.of(fac.newTransform(Transform.XPATH2,
                new XPathFilter2ParameterSpec(List.of(
                    new XPathType("//i:Line", XPathType.Filter.INTERSECT, Map.of("i", "urn:example:invoice")),
                    new XPathType("//dsig:Signature", XPathType.Filter.SUBTRACT,
                        Map.of("dsig", DS))))), c14n(CanonicalizationMethod.INCLUSIVE_11))))));
        write(out, "several-references", enveloped("", CanonicalizationMethod.INCLUSIVE,
            List.of(ref("", List.of(enveloped(), c14n(CanonicalizationMethod.EXCLUSIVE))),
                    ref("#l1", List.of(c14n(CanonicalizationMethod.INCLUSIVE))),
                    ref("#l2", List.of()))));
        write(out, "xml-base-c14n11", signed(invoice(INVOICE_BASE), "",
            CanonicalizationMethod.INCLUSIVE_11,
            List.of(ref("#l1", List.of(c14n(CanonicalizationMethod.INCLUSIVE_11))))));
        write(out, "manifest", manifest());
        write(out, "enveloping-base64", enveloping());
    }

    static Transform enveloped() throws Exception {
        return fac.newTransform(Transform.ENVELOPED, (TransformParameterSpec) null);
    }

    static Transform c14n(String uri) throws Exception {
        return fac.newTransform(uri, (TransformParameterSpec) null);
    }

    static Reference ref(String uri, List<Transform> transforms) throws Exception {
        return fac.newReference(uri, fac.newDigestMethod(DigestMethod.SHA256, null), transforms,
            null, null);
    }

    static Document invoice() throws Exception {
        return invoice(INVOICE);
    }

    static Document invoice(String xml) throws Exception {
        DocumentBuilderFactory dbf = DocumentBuilderFactory.newInstance();
        dbf.setNamespaceAware(true);
        Document doc = dbf.newDocumentBuilder().parse(
            new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8)));
        Element root = doc.getDocumentElement();
        root.setIdAttributeNS(null, "Id", true);
        NodeList lines = root.getElementsByTagNameNS("urn:example:invoice", "Line");
        for (int i = 0; i < lines.getLength(); i++) {
            ((Element) lines.item(i)).setIdAttributeNS(null, "Id", true);
        }
        return doc;
    }

    static SignedInfo signedInfo(String c14n, List<Reference> refs) throws Exception {
        return fac.newSignedInfo(fac.newCanonicalizationMethod(c14n, (C14NMethodParameterSpec) null),
            fac.newSignatureMethod("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", null), refs);
    }

    static KeyInfo keyInfo() {
        KeyInfoFactory kif = fac.getKeyInfoFactory();
        return kif.newKeyInfo(List.of(kif.newX509Data(List.of(cert))));
    }

    static Document enveloped(String prefix, String c14n, List<Reference> refs) throws Exception {
        return signed(invoice(), prefix, c14n, refs);
    }

    static Document signed(Document doc, String prefix, String c14n, List<Reference> refs)
            throws Exception {
        DOMSignContext context = new DOMSignContext(key, doc.getDocumentElement());
        context.setDefaultNamespacePrefix(prefix);
        fac.newXMLSignature(signedInfo(c14n, refs), keyInfo(), null, "sig-1", null).sign(context);
        return doc;
    }

    static Document manifest() throws Exception {
        Document doc = invoice();
        Manifest manifest = fac.newManifest(List.of(
            ref("#l1", List.of(c14n(CanonicalizationMethod.INCLUSIVE))), ref("#l2", List.of())),
            "man-1");
        XMLObject object = fac.newXMLObject(List.of(manifest), null, null, null);
        Reference toManifest = fac.newReference("#man-1",
            fac.newDigestMethod(DigestMethod.SHA256, null),
            List.of(c14n(CanonicalizationMethod.INCLUSIVE)), Manifest.TYPE, null);
        DOMSignContext context = new DOMSignContext(key, doc.getDocumentElement());
        context.setDefaultNamespacePrefix("");
        fac.newXMLSignature(signedInfo(CanonicalizationMethod.INCLUSIVE, List.of(toManifest)),
            keyInfo(), List.of(object), "sig-1", null).sign(context);
        return doc;
    }

    static Document enveloping() throws Exception {
        DocumentBuilderFactory dbf = DocumentBuilderFactory.newInstance();
        dbf.setNamespaceAware(true);
        Document doc = dbf.newDocumentBuilder().newDocument();
        XMLObject object = fac.newXMLObject(
            List.of(new DOMStructure(doc.createTextNode(PAYLOAD))), "obj-1", null, null);
        Reference reference = ref("#obj-1",
            List.of(fac.newTransform(Transform.BASE64, (TransformParameterSpec) null)));
        DOMSignContext context = new DOMSignContext(key, doc);
        context.setDefaultNamespacePrefix("ds");
        fac.newXMLSignature(signedInfo(CanonicalizationMethod.EXCLUSIVE, List.of(reference)),
            keyInfo(), List.of(object), "sig-1", null).sign(context);
        return doc;
    }

    static void write(Path out, String name, Document doc) throws Exception {
        Transformer transformer = TransformerFactory.newInstance().newTransformer();
        try (OutputStream stream = Files.newOutputStream(out.resolve(name + ".xml"))) {
            transformer.transform(new DOMSource(doc), new StreamResult(stream));
        }
    }
}
