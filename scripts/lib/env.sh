# Shared by scripts/demo and scripts/test: a project venv with the right Python, installed from
# this checkout, and (for tests) a reachable PostgreSQL. Sourced, not run.

pick_python() {
  # setup.cfg states python_requires >=3.11,<3.12 (Spyne 2.14 is tested on 3.11 only).
  for candidate in "${GATEWAY_PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python 3.11 is required (set GATEWAY_PYTHON to its path)" >&2
  return 1
}

ensure_venv() {
  # $1: the extras to install, e.g. "test" or "postgres,client"
  local extras="$1" python stamp
  if [ ! -x .venv/bin/python ]; then
    python=$(pick_python)
    echo "creating .venv with $python" >&2
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  # Reinstall only when the dependency declaration changed (keeps repeated runs fast), and not
  # even then when what setup.cfg now asks for these extras is already installed (a venv made
  # by scripts/test has all that scripts/demo needs).
  stamp=".venv/.installed-$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)-$extras"
  if [ ! -f "$stamp" ] && already_installed "$extras"; then
    touch "$stamp"
  fi
  if [ ! -f "$stamp" ]; then
    echo "installing the gateway and its dependencies into .venv ($extras)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]" 2>&1 |
      grep -v "^WARNING: Location" >&2 || true
    .venv/bin/python -c "import gateway, spyne, sqlalchemy, lxml" || return 1
    touch "$stamp"
  fi
}

already_installed() {
  # $1: extras. True when the gateway is installed in .venv and every requirement setup.cfg
  # states for it and these extras is met (pip's own copy of packaging reads the specifiers).
  .venv/bin/python - "$1" <<'PY' 2>/dev/null
import configparser, sys
from importlib import metadata
from pip._vendor.packaging.requirements import Requirement
config = configparser.ConfigParser()
config.read("setup.cfg")
lines = config["options"]["install_requires"].splitlines()
for extra in filter(None, sys.argv[1].split(",")):
    lines += config["options.extras_require"][extra].splitlines()
metadata.distribution(config["metadata"]["name"])
for line in lines:
    line = line.split("#", 1)[0].strip()
    if line:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        if not requirement.specifier.contains(metadata.version(requirement.name),
                                              prereleases=True):
            sys.exit(1)
PY
}

ensure_postgres() {
  # The integration tests need the real PostgreSQL: start the local cluster if it is down, and
  # fail (never skip) if it still cannot be reached.
  local url="${GATEWAY_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
  if ! .venv/bin/python - "$url" <<'PY' 2>/dev/null
import sys, psycopg
url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://", 1)
psycopg.connect(url, connect_timeout=3).close()
PY
  then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      echo "PostgreSQL unreachable at $url; starting the local cluster" >&2
      for version in $(ls /etc/postgresql); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
      done
      sleep 2
    fi
  fi
}

ensure_test_peers() {
  # Independent peers the tests compare against: Debian's xmlsec1 CLI, openssl, curl (the
  # client shell example), poppler (the justificante rendered to PNG and its text extracted;
  # pdfsig checks the PDF vectors), qpdf (PDFs rewritten by another producer), chromium with its
  # driver (the public verification page in a real browser, via Selenium), Apache Santuario
  # (libxml-security-java) and Bouncy Castle (libbcpkix-java: CMS signers and
  # counter-signatures), run by a Java 17 JDK; nginx (the TLS front of deploy/nginx.conf, in
  # front of two real servers) and systemd-analyze (deploy/notess-gateway.service verified). Installed here (never by hand) so a fresh machine
  # runs what CI runs. Pairs: command:package.
  local missing="" pair tool package
  for pair in xmlsec1:xmlsec1 openssl:openssl curl:curl qpdf:qpdf pdftoppm:poppler-utils \
              pdftotext:poppler-utils pdfsig:poppler-utils chromium:chromium \
              chromedriver:chromium-driver nginx:nginx systemd-analyze:systemd; do
    tool=${pair%%:*} package=${pair#*:}
    command -v "$tool" >/dev/null 2>&1 && continue
    case " $missing " in *" $package "*) ;; *) missing="$missing $package" ;; esac
  done
  [ -f /usr/share/java/bcpkix.jar ] || missing="$missing libbcpkix-java"
  # Source-file mode (java Foo.java) compiles in memory: it needs the JDK, not only the JRE.
  # Santuario signs XML vectors; the WSCN port's Axis 1.4 client (test_soap_wscn_axis.py) needs
  # WSDL2Java and the stubs' runtime, and WSS4J for request signing.
  command -v javac >/dev/null 2>&1 || missing="$missing openjdk-17-jdk-headless"
  [ -f /usr/share/java/xmlsec.jar ] || missing="$missing libxml-security-java"
  [ -f /usr/share/java/axis.jar ] || missing="$missing libaxis-java"
  [ -f /usr/share/java/wss4j.jar ] || missing="$missing libwss4j-java"
  # JavaMail frames the MTOM request of test_soap_issuer_mtom.py's Java peer.
  [ -f /usr/share/java/javax.mail.jar ] || missing="$missing libmail-java"
  [ -f /usr/share/java/javax.activation.jar ] || missing="$missing libactivation-java"
  # Node.js runs the npm peers (the Standard Webhooks reference receiver, tests/peers/).
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
  if [ -n "$missing" ]; then
    if command -v apt-get >/dev/null 2>&1; then
      local sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      echo "installing test peers:$missing" >&2
      $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq $missing >&2 || return 1
    else
      echo "error: the tests need the Debian packages$missing" >&2
      return 1
    fi
  fi
  ensure_npm_peers
}

ensure_npm_peers() {
  # npm packages the tests run as independent peers, pinned by each folder's package-lock.json.
  local folder
  for folder in tests/peers/*/; do
    [ -f "$folder/package-lock.json" ] || continue
    [ -d "$folder/node_modules" ] && [ "$folder/node_modules" -nt "$folder/package-lock.json" ] &&
      continue
    echo "installing npm peers in $folder" >&2
    (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
  done
}
