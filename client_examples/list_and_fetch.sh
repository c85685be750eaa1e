#!/usr/bin/env bash
# List notifications, or fetch one document, with nothing but xmlsec1, curl, openssl and sed.
#
#   client_examples/list_and_fetch.sh URL CERT KEY SERVER_CERT              # list every item
#   client_examples/list_and_fetch.sh URL CERT KEY SERVER_CERT ID [DOC [OUT]] # fetch a document
#
#   URL          the service, e.g. http://127.0.0.1:8080/NotificationService
#   CERT, KEY    the client certificate and its private key (PEM)
#   SERVER_CERT  the gateway's certificate (PEM): every response must be signed with it
#   ID, DOC      notification id and document position (0, the default, is the main document)
#   OUT          where to write the document (default ID-DOC.bin); its SHA-256 is checked
#   environment  STATUS=AVAILABLE (only items with that status), PAGE_SIZE (default 100)
#
# Each request is a SOAP 1.1 envelope with a WS-Security header (OASIS WSS 1.1, X.509 token
# profile): a BinarySecurityToken with the certificate, a Timestamp (5 minutes), and a
# ds:Signature template that `xmlsec1 --sign` fills in: RSA-SHA256, exclusive c14n, SHA-256
# digests over the Timestamp and the Body (found by their wsu:Id: --id-attr). curl POSTs it. The
# response must verify with `xmlsec1 --verify` against SERVER_CERT, and its signature must
# reference the very Body and Timestamp of that response (XML signature wrapping defence).
# Fetching a notification's content needs it ACCEPTED first (batch_agent.py does that); fetching
# a communication marks it READ.
set -euo pipefail

if [ $# -lt 4 ]; then
  sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
url=$1 cert=$2 key=$3 server_cert=$4
id=${5:-} document=${6:-0} out=${7:-}
for tool in xmlsec1 curl openssl sed base64 sha256sum; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
token=$(openssl x509 -in "$cert" -outform DER | base64 | tr -d '\n')

WSSE=http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd
WSU=http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd
X509V3=http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3
BASE64=http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary
EXC_C14N=http://www.w3.org/2001/10/xml-exc-c14n#
SHA256=http://www.w3.org/2001/04/xmlenc#sha256

reference() {  # a ds:Reference template: xmlsec1 computes the DigestValue
  echo "<ds:Reference URI=\"#$1\"><ds:Transforms><ds:Transform Algorithm=\"$EXC_C14N\"/>" \
       "</ds:Transforms><ds:DigestMethod Algorithm=\"$SHA256\"/><ds:DigestValue/></ds:Reference>"
}

# call OPERATION BODY -> the verified response in $work/response.xml, tags without prefixes
# in $work/plain.xml (enough for sed to read it).
call() {
  local operation=$1 body=$2 n created expires status
  n=$(openssl rand -hex 12)  # fresh Ids: each request's signature differs (replay cache)
  created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  expires=$(date -u -d '+5 minutes' +%Y-%m-%dT%H:%M:%SZ)
  cat > "$work/template.xml" <<EOF
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wsse="$WSSE" xmlns:wsu="$WSU" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:n="urn:notess:gateway:notification:v1">
<soapenv:Header><wsse:Security soapenv:mustUnderstand="1">
<wsse:BinarySecurityToken wsu:Id="X509-$n" EncodingType="$BASE64" ValueType="$X509V3">$token</wsse:BinarySecurityToken>
<wsu:Timestamp wsu:Id="TS-$n"><wsu:Created>$created</wsu:Created><wsu:Expires>$expires</wsu:Expires></wsu:Timestamp>
<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="$EXC_C14N"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
$(reference "TS-$n")
$(reference "Body-$n")
</ds:SignedInfo><ds:SignatureValue/>
<ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI="#X509-$n" ValueType="$X509V3"/></wsse:SecurityTokenReference></ds:KeyInfo>
</ds:Signature></wsse:Security></soapenv:Header>
<soapenv:Body wsu:Id="Body-$n">$body</soapenv:Body>
</soapenv:Envelope>
EOF
  xmlsec1 --sign --privkey-pem "$key" --id-attr:Id Timestamp --id-attr:Id Body \
    --output "$work/request.xml" "$work/template.xml" 2>"$work/xmlsec.log" \
    || { cat "$work/xmlsec.log" >&2; echo "error: signing failed" >&2; exit 1; }
  status=$(curl -sS -o "$work/response.xml" -w '%{http_code}' --max-time 120 \
    -H 'Content-Type: text/xml; charset=utf-8' -H "SOAPAction: \"$operation\"" \
    --data-binary @"$work/request.xml" "$url")
  # The server signs every response, faults included: check that before believing anything.
  if ! xmlsec1 --verify --pubkey-cert-pem "$server_cert" --id-attr:Id Timestamp \
      --id-attr:Id Body "$work/response.xml" >"$work/xmlsec.log" 2>&1; then
    cat "$work/xmlsec.log" >&2
    echo "error: the response (HTTP $status) is not signed by $server_cert" >&2
    exit 1
  fi
  tr -d '\n' < "$work/response.xml" | sed -E 's#<(/?)[A-Za-z0-9_.-]+:#<\1#g' > "$work/plain.xml"
  local body_id timestamp_id
  body_id=$(sed -E 's#.*<Body [^>]*Id="([^"]*)".*#\1#' "$work/plain.xml")
  timestamp_id=$(sed -E 's#.*<Timestamp [^>]*Id="([^"]*)".*#\1#' "$work/plain.xml")
  if ! grep -q "URI=\"#$body_id\"" "$work/plain.xml" \
      || ! grep -q "URI=\"#$timestamp_id\"" "$work/plain.xml" \
      || [ "$(grep -o '<Body[ >]' "$work/plain.xml" | wc -l)" -ne 1 ]; then
    echo "error: the response's signature does not cover its Body and Timestamp" >&2
    exit 1
  fi
  if grep -q '<Fault>' "$work/plain.xml"; then
    echo "fault (HTTP $status) $(field faultcode) [$(field code)]: $(field faultstring)" >&2
    exit 1
  fi
}

field() {  # the text of the first <NAME> in the response
  grep -o "<$1>[^<]*</$1>" "$work/plain.xml" | head -n 1 | sed -E 's#<[^>]*>##g' || true
}

xml_escape() {
  sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' <<<"$1"
}

if [ -z "$id" ]; then
  cursor="" total=0 pages=0
  while :; do
    filters=""
    [ -n "${STATUS:-}" ] && filters="<n:status>$STATUS</n:status>"
    [ -n "$cursor" ] && filters="$filters<n:cursor>$(xml_escape "$cursor")</n:cursor>"
    call ListNotifications \
      "<n:ListNotifications>$filters<n:pageSize>${PAGE_SIZE:-100}</n:pageSize></n:ListNotifications>"
    # One item per line: id, kind, issuer, status, subject.
    sed -e 's#</item>#</item>\n#g' "$work/plain.xml" | grep -o '<item>.*</item>' | sed -E \
      's#.*<id>([^<]*)</id>.*<kind>([^<]*)</kind>.*<issuer>([^<]*)</issuer>.*<subject>([^<]*)</subject>.*<status>([^<]*)</status>.*#\1\t\2\t\3\t\5\t\4#' \
      || true
    count=$(field count)
    total=$((total + ${count:-0})) pages=$((pages + 1))
    cursor=$(field nextCursor)
    [ -n "$cursor" ] || break
  done
  echo "$total item(s) in $pages page(s)" >&2
else
  out=${out:-$id-$document.bin}
  call GetContent "<n:GetContent><n:id>$id</n:id><n:document>$document</n:document></n:GetContent>"
  expected=$(field sha256)
  field data | base64 -d > "$out.part"
  actual=$(sha256sum "$out.part" | cut -d' ' -f1)
  if [ "$actual" != "$expected" ]; then
    rm -f "$out.part"
    echo "error: SHA-256 $actual is not the $expected the server states" >&2
    exit 1
  fi
  mv "$out.part" "$out"
  echo "$out  $(field name)  sha256 $actual  status $(field status)"
fi
