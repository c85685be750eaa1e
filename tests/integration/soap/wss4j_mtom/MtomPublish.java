// One PublishNotifications to IssuerService as an MTOM/XOP request built by other stacks than
// ours: the envelope signed by Apache WSS4J 1.6 (Debian libwss4j-java; BinarySecurityToken,
// RSA-SHA256, exclusive c14n over Timestamp and Body -- the Body holding the xop:Include and the
// document's sha256), the multipart/related body framed by JavaMail (Debian libjakarta-mail-java
// / libmail-java: MimeMultipart, boundaries, part headers).
//
// Usage: MtomPublish <endpoint> <keystore.p12> <password> <alias> <reference> <recipient> <file>
// Prints "STATUS <http status>" then the response body; the test
// (tests/integration/soap/test_soap_issuer_mtom.py) reads them.

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;

import javax.activation.DataHandler;
import javax.mail.internet.MimeBodyPart;
import javax.mail.internet.MimeMultipart;
import javax.mail.util.ByteArrayDataSource;
import javax.xml.parsers.DocumentBuilderFactory;

import org.apache.ws.security.WSConstants;
import org.apache.ws.security.WSEncryptionPart;
import org.apache.ws.security.components.crypto.Merlin;
import org.apache.ws.security.message.WSSecHeader;
import org.apache.ws.security.message.WSSecSignature;
import org.apache.ws.security.message.WSSecTimestamp;
import org.apache.ws.security.util.XMLUtils;
import org.w3c.dom.Document;

public class MtomPublish {
    static final String ROOT_TYPE = "application/xop+xml; charset=UTF-8; type=\"text/xml\"";

    static String hex(byte[] bytes) {
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) out.append(String.format("%02x", b));
        return out.toString();
    }

    static MimeBodyPart part(byte[] data, String type, String contentId) throws Exception {
        MimeBodyPart part = new MimeBodyPart();
        part.setDataHandler(new DataHandler(new ByteArrayDataSource(data, type)));
        part.setHeader("Content-Type", type);
        part.setHeader("Content-Transfer-Encoding", "binary");
        part.setContentID("<" + contentId + ">");
        return part;
    }

    public static void main(String[] args) throws Exception {
        String endpoint = args[0], password = args[2], alias = args[3];
        String reference = args[4], recipient = args[5];
        byte[] document = Files.readAllBytes(Paths.get(args[6]));
        String sha256 = hex(MessageDigest.getInstance("SHA-256").digest(document));
        String envelope =
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\""
            + " xmlns:iss=\"urn:notess:gateway:issuer:v1\""
            + " xmlns:xop=\"http://www.w3.org/2004/08/xop/include\">"
            + "<soapenv:Header/><soapenv:Body><iss:PublishNotifications><iss:item>"
            + "<iss:issuerReference>" + reference + "</iss:issuerReference>"
            + "<iss:kind>NOTIFICATION</iss:kind><iss:procedure>Apremio</iss:procedure>"
            + "<iss:subject>Enviada por un cliente Java (MTOM)</iss:subject>"
            + "<iss:recipient>" + recipient + "</iss:recipient>"
            + "<iss:mainDocument><iss:name>java.pdf</iss:name>"
            + "<iss:contentType>application/pdf</iss:contentType>"
            + "<iss:content><xop:Include href=\"cid:doc1@java.peer\"/></iss:content>"
            + "<iss:sha256>" + sha256 + "</iss:sha256></iss:mainDocument>"
            + "</iss:item></iss:PublishNotifications></soapenv:Body></soapenv:Envelope>";

        KeyStore keyStore = KeyStore.getInstance("PKCS12");
        try (FileInputStream in = new FileInputStream(args[1])) {
            keyStore.load(in, password.toCharArray());
        }
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        Document doc = factory.newDocumentBuilder().parse(
            new ByteArrayInputStream(envelope.getBytes(StandardCharsets.UTF_8)));
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
        signature.setKeyIdentifierType(WSConstants.BST_DIRECT_REFERENCE);
        signature.setSignatureAlgorithm("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
        signature.setDigestAlgo("http://www.w3.org/2001/04/xmlenc#sha256");
        signature.setSigCanonicalization(WSConstants.C14N_EXCL_OMIT_COMMENTS);
        List<WSEncryptionPart> parts = new ArrayList<WSEncryptionPart>();
        parts.add(new WSEncryptionPart("Timestamp", WSConstants.WSU_NS, ""));
        parts.add(new WSEncryptionPart("Body", WSConstants.URI_SOAP11_ENV, ""));
        signature.setParts(parts);
        signature.build(doc, crypto, header);
        byte[] root = XMLUtils.PrettyDocumentToString(doc).getBytes(StandardCharsets.UTF_8);

        MimeMultipart multipart = new MimeMultipart("related");
        multipart.addBodyPart(part(root, ROOT_TYPE, "root@java.peer"));
        multipart.addBodyPart(part(document, "application/pdf", "doc1@java.peer"));
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        multipart.writeTo(body);
        String contentType = multipart.getContentType().replaceAll("\\s*\\r?\\n\\s*", " ")
            + "; type=\"application/xop+xml\"; start=\"<root@java.peer>\"; start-info=\"text/xml\"";

        HttpURLConnection connection = (HttpURLConnection) new URL(endpoint).openConnection();
        connection.setDoOutput(true);
        connection.setRequestMethod("POST");
        connection.setRequestProperty("Content-Type", contentType);
        connection.setRequestProperty("SOAPAction", "\"PublishNotifications\"");
        connection.setFixedLengthStreamingMode(body.size());
        try (OutputStream out = connection.getOutputStream()) {
            body.writeTo(out);
        }
        int status = connection.getResponseCode();
        InputStream answer = status < 400 ? connection.getInputStream() : connection.getErrorStream();
        System.out.println("STATUS " + status);
        System.out.println(new String(answer.readAllBytes(), StandardCharsets.UTF_8));
    }
}
