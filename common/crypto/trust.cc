#include "common/base/strings.h"
#include "common/crypto/trust.h"

#include "common/base/status.h"

namespace ambit::crypto {
namespace {

absl::Status describe_verify_error(X509_STORE_CTX* ctx) {
  int err = X509_STORE_CTX_get_error(ctx);
  int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509* cur = X509_STORE_CTX_get_current_cert(ctx);
  std::string who = depth == 0 ? "leaf" : str_cat("chain certificate at depth ", depth);
  std::string extra;
  if (cur != nullptr && (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID)) {
    Certificate c = Certificate::ref(cur);
    extra = str_cat(" (valid ", format_time(c.not_before()), " to ", format_time(c.not_after()), ")");
  }
  if (err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN || err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
      err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT) {
    extra = " — the chain does not lead to a trusted mesh root";
  }
  return absl::UnauthenticatedError(str_cat("certificate verification failed: ", who, ": ",
                                            X509_verify_cert_error_string(err), extra));
}

absl::StatusOr<SpiffeId> check_leaf(X509* leaf, const TrustBundle& bundle) {
  auto id = Certificate::ref(leaf).spiffe_id();
  if (!id.ok()) return absl::UnauthenticatedError(id.status().message());
  if (id->trust_domain() != bundle.trust_domain()) {
    return absl::UnauthenticatedError(str_cat("peer identity ", id->to_string(),
                                                   " is in trust domain '", id->trust_domain(),
                                                   "', want '", bundle.trust_domain(), "'"));
  }
  return id;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const TrustBundle>> TrustBundle::from_pem(std::string_view roots_pem,
                                                                         std::string trust_domain) {
  AMBIT_RETURN_IF_ERROR(validate_trust_domain(trust_domain));
  AMBIT_ASSIGN_OR_RETURN(std::vector<Certificate> roots, parse_pem_chain(roots_pem));
  std::shared_ptr<TrustBundle> b(new TrustBundle());
  b->store_.reset(X509_STORE_new());
  for (const auto& r : roots) {
    if (!r.is_ca()) return absl::InvalidArgumentError(str_cat("root certificate ", r.subject(), " is not a CA"));
    if (X509_STORE_add_cert(b->store_.get(), r.get()) != 1) return openssl_error("add root to store");
  }
  b->roots_ = std::move(roots);
  b->trust_domain_ = std::move(trust_domain);
  return std::shared_ptr<const TrustBundle>(std::move(b));
}

absl::StatusOr<SpiffeId> verify_chain(const std::vector<Certificate>& chain,
                                      const TrustBundle& bundle, Purpose purpose,
                                      std::optional<Clock::time_point> at) {
  if (chain.empty()) return absl::UnauthenticatedError("no certificate presented");
  X509StackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), bundle.store(), chain[0].get(), untrusted.get()) != 1) {
    return openssl_error("init verification", absl::StatusCode::kInternal);
  }
  X509_STORE_CTX_set_purpose(ctx.get(), purpose == Purpose::kClient ? X509_PURPOSE_SSL_CLIENT
                                                                    : X509_PURPOSE_SSL_SERVER);
  if (at) X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), Clock::to_time_t(*at));
  if (X509_verify_cert(ctx.get()) != 1) return describe_verify_error(ctx.get());
  return check_leaf(chain[0].get(), bundle);
}

absl::StatusOr<SpiffeId> verify_store_ctx(X509_STORE_CTX* ctx, const TrustBundle& bundle) {
  if (X509_verify_cert(ctx) != 1) return describe_verify_error(ctx);
  return check_leaf(X509_STORE_CTX_get0_cert(ctx), bundle);
}

}  // namespace ambit::crypto
