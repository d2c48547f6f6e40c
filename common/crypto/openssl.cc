#include "common/base/strings.h"
#include "common/crypto/openssl.h"

#include <openssl/err.h>

#include <string>


namespace ambit::crypto {

absl::Status openssl_error(std::string_view what, absl::StatusCode code) {
  std::string msg(what);
  bool first = true;
  unsigned long err;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    str_append(&msg, first ? ": " : "; ", buf);
    first = false;
  }
  return absl::Status(code, msg);
}

BioPtr mem_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string bio_to_string(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  return n > 0 ? std::string(p, static_cast<size_t>(n)) : std::string();
}

}  // namespace ambit::crypto
