// One GetOfficialTime call to the native port, signed by Apache WSS4J 1.6 (Debian libwss4j-java)
// with the key reference a client stack chooses: IssuerSerial (CXF/WSS4J's default), SKI,
// Thumbprint or X509KeyIdentifier, or BST (an embedded BinarySecurityToken). RSA-SHA256,
// SHA-256, exclusive c14n over Timestamp and Body, as a configured WSS4J client sends.
//
// Usage: KeyRefCall <endpoint> <keystore.p12> <password> <alias> <BST|IssuerSerial|SKI|Thumbprint|X509KeyIdentifier>
// Prints "STATUS <http status>" then the response body; the test
// (tests/integration/soap/test_soap_wss4j_key_references.py) reads them.

import java.io.ByteArrayInputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;

import javax.xml.parsers.DocumentBuilderFactory;

import org.apache.ws.security.WSConstants;
import org.apache.ws.security.WSEncryptionPart;
import org.apache.ws.security.components.crypto.Merlin;
import org.apache.ws.security.message.WSSecHeader;
import org.apache.ws.security.message.WSSecSignature;
import org.apache.ws.security.message.WSSecTimestamp;
import org.apache.ws.security.util.XMLUtils;
import org.w3c.dom.Document;

public class KeyRefCall {
    static final String ENVELOPE =
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\""
        + " xmlns:tns=\"urn:notess:gateway:notification:v1\">"
        + "<soapenv:Header/><soapenv:Body><tns:GetOfficialTime/></soapenv:Body>"
        + "</soapenv:Envelope>";

    static int keyIdentifierType(String form) {
        switch (form) {
            case "BST": return WSConstants.BST_DIRECT_REFERENCE;
            case "IssuerSerial": return WSConstants.ISSUER_SERIAL;
            case "SKI": return WSConstants.SKI_KEY_IDENTIFIER;
            case "Thumbprint": return WSConstants.THUMBPRINT_IDENTIFIER;
            case "X509KeyIdentifier": return WSConstants.X509_KEY_IDENTIFIER;
            default: throw new IllegalArgumentException(form);
        }
    }

    public static void main(String[] args) throws Exception {
        String endpoint = args[0], password = args[2], alias = args[3], form = args[4];
        KeyStore keyStore = KeyStore.getInstance("PKCS12");
        try (FileInputStream in = new FileInputStream(args[1])) {
            keyStore.load(in, password.toCharArray());
        }
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        Document doc = factory.newDocumentBuilder().parse(
            new ByteArrayInputStream(ENVELOPE.getBytes(StandardCharsets.UTF_8)));

        WSSecHeader header = new WSSecHeader();
        header.setMustUnderstand(true);
        header.insertSecurityHeader(doc);
        WSSecTimestamp timestamp = new WSSecTimestamp();
        timestamp.setTimeToLive(300);
        timestamp.build(doc, header);
        Merlin crypto = new Merlin();
        crypto.setKeyStore(keyStore);
        WSSecSignature signature = new WSSecSignature();
        signature.setUserInfo(alias, password);
        signature.setKeyIdentifierType(keyIdentifierType(form));
        signature.setSignatureAlgorithm("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
        signature.setDigestAlgo("http://www.w3.org/2001/04/xmlenc#sha256");
        signature.setSigCanonicalization(WSConstants.C14N_EXCL_OMIT_COMMENTS);
        List<WSEncryptionPart> parts = new ArrayList<WSEncryptionPart>();
        parts.add(new WSEncryptionPart("Timestamp", WSConstants.WSU_NS, ""));
        parts.add(new WSEncryptionPart("Body", WSConstants.URI_SOAP11_ENV, ""));
        signature.setParts(parts);
        signature.build(doc, crypto, header);
        byte[] body = XMLUtils.PrettyDocumentToString(doc).getBytes(StandardCharsets.UTF_8);

        HttpURLConnection connection = (HttpURLConnection) new URL(endpoint).openConnection();
        connection.setDoOutput(true);
        connection.setRequestMethod("POST");
        connection.setRequestProperty("Content-Type", "text/xml; charset=utf-8");
        connection.setRequestProperty("SOAPAction", "\"GetOfficialTime\"");
        try (OutputStream out = connection.getOutputStream()) {
            out.write(body);
        }
        int status = connection.getResponseCode();
        InputStream answer = status < 400 ? connection.getInputStream() : connection.getErrorStream();
        System.out.println("STATUS " + status);
        System.out.println(new String(answer.readAllBytes(), StandardCharsets.UTF_8));
        if (System.getenv("KEYREF_DUMP") != null) {
            System.err.println(new String(body, StandardCharsets.UTF_8));
        }
    }
}
