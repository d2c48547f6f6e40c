#include "common/base/strings.h"
#include "common/crypto/certificate.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/base/status.h"
#include "common/base/unique_fd.h"

namespace ambit::crypto {
namespace {

Clock::time_point asn1_to_time(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return Clock::time_point{};
  return Clock::from_time_t(timegm(&tm));
}

}  // namespace

absl::StatusOr<Certificate> Certificate::from_pem(std::string_view pem) {
  AMBIT_ASSIGN_OR_RETURN(std::vector<Certificate> chain, parse_pem_chain(pem));
  if (chain.size() != 1) {
    return absl::InvalidArgumentError(
        str_cat("want exactly one certificate, PEM holds ", chain.size()));
  }
  return std::move(chain[0]);
}

absl::StatusOr<Certificate> Certificate::from_der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x) return openssl_error("parse DER certificate");
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return absl::InvalidArgumentError("trailing bytes after DER certificate");
  }
  return Certificate(std::move(x));
}

Certificate Certificate::ref(X509* x) {
  X509_up_ref(x);
  return Certificate(X509Ptr(x));
}

Certificate& Certificate::operator=(const Certificate& o) {
  if (this != &o) {
    if (o.x_) X509_up_ref(o.x_.get());
    x_.reset(o.x_.get());
  }
  return *this;
}

std::string Certificate::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x_.get());
  return bio_to_string(bio.get());
}

std::string Certificate::to_der() const {
  unsigned char* buf = nullptr;
  int n = i2d_X509(x_.get(), &buf);
  if (n <= 0) return {};
  std::string out(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  OPENSSL_free(buf);
  return out;
}

Clock::time_point Certificate::not_before() const { return asn1_to_time(X509_get0_notBefore(x_.get())); }
Clock::time_point Certificate::not_after() const { return asn1_to_time(X509_get0_notAfter(x_.get())); }

std::string Certificate::serial_hex() const {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x_.get()), nullptr));
  if (!bn) return {};
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Certificate::subject() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(x_.get()), 0, XN_FLAG_RFC2253);
  return bio_to_string(bio.get());
}

bool Certificate::is_ca() const { return X509_check_ca(x_.get()) != 0; }

std::vector<std::string> Certificate::uri_sans() const {
  std::vector<std::string> out;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x_.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

absl::StatusOr<SpiffeId> Certificate::spiffe_id() const {
  std::vector<std::string> uris = uri_sans();
  absl::Status last = absl::InvalidArgumentError("certificate has no URI SAN");
  for (const std::string& uri : uris) {
    // A URI with an embedded NUL could be read two ways; SpiffeId::parse rejects it.
    auto id = SpiffeId::parse(uri);
    if (id.ok()) return id;
    last = id.status();
  }
  return absl::InvalidArgumentError(
      str_cat("certificate ", subject().empty() ? serial_hex() : subject(),
                   " has no valid SPIFFE URI SAN: ", last.message()));
}

absl::StatusOr<std::vector<Certificate>> parse_pem_chain(std::string_view pem) {
  BioPtr bio = mem_bio(pem);
  std::vector<Certificate> out;
  ERR_clear_error();
  while (true) {
    X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!x) {
      unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        ERR_clear_error();  // clean end of input
        break;
      }
      return openssl_error(str_cat("parse PEM certificate #", out.size() + 1));
    }
    out.push_back(Certificate::adopt(std::move(x)));
  }
  if (out.empty()) return absl::InvalidArgumentError("no CERTIFICATE block in PEM");
  return out;
}

std::string chain_to_pem(const std::vector<Certificate>& chain) {
  std::string out;
  for (const auto& c : chain) out += c.to_pem();
  return out;
}

std::string format_time(Clock::time_point t) {
  std::time_t tt = Clock::to_time_t(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

absl::StatusOr<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error(errno, "open ", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return errno_error(errno, "read ", path);
  return ss.str();
}

absl::Status write_file_atomic(const std::string& path, std::string_view data, int mode) {
  std::string tmp = str_cat(path, ".tmp.", ::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return errno_error(errno, "create ", tmp);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::unlink(tmp.c_str());
      return errno_error(e, "write ", tmp);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return errno_error(e, "sync ", tmp);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return errno_error(e, "rename ", tmp, " to ", path);
  }
  return absl::OkStatus();
}

}  // namespace ambit::crypto
