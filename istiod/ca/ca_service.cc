#include "istiod/ca/ca_service.h"

#include "common/base/log.h"
#include "common/base/strings.h"

namespace ambit::istiod::ca {
namespace {
spdlog::logger& lg() { return log::scope("ca"); }
}  // namespace

grpc::Status to_grpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

CaService::CaService(const crypto::CertificateAuthority* ca, const security::Authenticator* auth,
                     NodeRuns node_runs, metrics::Registry* m, Options options)
    : ca_(ca),
      auth_(auth),
      node_runs_(std::move(node_runs)),
      opts_(std::move(options)),
      csr_count_(m->counter("citadel_server_csr_count", "The number of CSRs received by Citadel server.").with({})),
      auth_failures_(m->counter("citadel_server_authentication_failure_count",
                                "The number of authentication failures.").with({})),
      parse_errors_(m->counter("citadel_server_csr_parsing_err_count",
                               "The number of errors occurred when parsing the CSR.").with({})),
      denied_(m->counter("citadel_server_authorization_failure_count",
                         "The number of requests refused because the caller may not have the identity.").with({})),
      sign_errors_(m->counter("citadel_server_csr_sign_err_count",
                              "The number of errors occurred when signing the CSR.").with({})),
      issued_(m->counter("citadel_server_success_cert_issue_count",
                         "The number of certificates issuances that have succeeded.").with({})) {
  m->gauge_fn("citadel_server_root_cert_expiry_timestamp",
              "The unix timestamp, in seconds, when Citadel root cert will expire.", [ca] {
                return static_cast<double>(
                    std::chrono::duration_cast<std::chrono::seconds>(ca->root().not_after().time_since_epoch()).count());
              });
}

absl::StatusOr<std::vector<std::string>> CaService::issue(const security::CallCredentials& creds,
                                                          const istio::v1::auth::IstioCertificateRequest& req) const {
  csr_count_.inc();
  auto caller = auth_->authenticate(creds);
  if (!caller.ok() || caller->method == "anonymous") {
    auth_failures_.inc();
    return caller.ok() ? absl::UnauthenticatedError("the CA does not serve anonymous callers") : caller.status();
  }
  auto csr = crypto::CertificateRequest::parse(req.csr());
  if (!csr.ok()) {
    parse_errors_.inc();
    return absl::InvalidArgumentError(std::string(csr.status().message()));
  }
  std::chrono::seconds ttl(req.validity_duration());
  if (ttl.count() <= 0) ttl = opts_.default_ttl;
  if (ttl > opts_.max_ttl) {
    return absl::InvalidArgumentError(str_cat("requested TTL ", ttl.count(), "s is greater than the max allowed TTL ",
                                              opts_.max_ttl.count(), "s"));
  }

  SpiffeId grant = caller->identity;
  const auto& fields = req.metadata().fields();
  if (auto it = fields.find("ImpersonatedIdentity"); it != fields.end()) {
    if (it->second.kind_case() != google::protobuf::Value::kStringValue) {
      return absl::InvalidArgumentError("ImpersonatedIdentity must be a string");
    }
    auto wanted = SpiffeId::parse(it->second.string_value());
    if (!wanted.ok()) return absl::InvalidArgumentError(str_cat("ImpersonatedIdentity: ", wanted.status().message()));
    std::string account = str_cat(caller->identity.ns(), "/", caller->identity.service_account());
    if (caller->node.empty() || !opts_.trusted_node_accounts.count(account)) {
      denied_.inc();
      return absl::PermissionDeniedError(str_cat("caller ", caller->identity.to_string(),
                                                 " is not a trusted node account and may not impersonate ",
                                                 wanted->to_string()));
    }
    if (wanted->trust_domain() != caller->identity.trust_domain()) {
      denied_.inc();
      return absl::PermissionDeniedError(str_cat("cannot impersonate ", wanted->to_string(),
                                                 ": trust domain differs from ", caller->identity.trust_domain()));
    }
    if (!node_runs_(caller->node, wanted->ns(), wanted->service_account())) {
      denied_.inc();
      return absl::PermissionDeniedError(str_cat("node ", caller->node, " runs no pod with service account ",
                                                 wanted->ns(), "/", wanted->service_account()));
    }
    grant = *wanted;
  }
  if (csr->identity() != grant) {
    denied_.inc();
    return absl::PermissionDeniedError(str_cat("CSR asks for ", csr->identity().to_string(), " but the caller may only get ",
                                               grant.to_string()));
  }
  auto chain = ca_->sign(*csr, grant, ttl);
  if (!chain.ok()) {
    sign_errors_.inc();
    return absl::InternalError(str_cat("signing failed: ", chain.status().message()));
  }
  issued_.inc();
  lg().info("issued {} to {} ({}{}), ttl {}s", grant.to_string(), caller->identity.to_string(), caller->method,
            caller->node.empty() ? "" : " on node " + caller->node, ttl.count());
  return chain;
}

grpc::Status CaService::CreateCertificate(grpc::ServerContext* ctx, const istio::v1::auth::IstioCertificateRequest* req,
                                          istio::v1::auth::IstioCertificateResponse* resp) {
  auto chain = issue(security::credentials_of(*ctx), *req);
  if (!chain.ok()) {
    lg().warn("CreateCertificate from {} refused: {}", ctx->peer(), chain.status().ToString());
    return to_grpc(chain.status());
  }
  for (auto& pem : *chain) resp->add_cert_chain(std::move(pem));
  return grpc::Status::OK;
}

}  // namespace ambit::istiod::ca
