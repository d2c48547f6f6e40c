#include "common/identity/ca_client.h"

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/xds/delta_client.h"
#include "istio/v1/auth/ca.grpc.pb.h"

namespace ambit::identity {

GrpcCaClient::GrpcCaClient(std::shared_ptr<grpc::Channel> channel, std::string token_source, Mode mode)
    : channel_(std::move(channel)), token_source_(std::move(token_source)), mode_(mode) {}

void GrpcCaClient::create_certificate(const std::string& csr_pem, const SpiffeId& identity, std::chrono::seconds ttl,
                                      Done done) {
  struct Call {
    grpc::ClientContext ctx;
    istio::v1::auth::IstioCertificateRequest req;
    istio::v1::auth::IstioCertificateResponse resp;
    std::unique_ptr<istio::v1::auth::IstioCertificateService::Stub> stub;
    Done done;
  };
  auto call = std::make_shared<Call>();
  call->stub = istio::v1::auth::IstioCertificateService::NewStub(channel_);
  call->req.set_csr(csr_pem);
  call->req.set_validity_duration(ttl.count());
  if (mode_ == Mode::kImpersonate) {
    (*call->req.mutable_metadata()->mutable_fields())["ImpersonatedIdentity"].set_string_value(identity.to_string());
  }
  std::string token = xds::read_token(token_source_);
  if (!token.empty()) call->ctx.AddMetadata("authorization", str_cat("Bearer ", token));
  call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  call->done = std::move(done);
  call->stub->async()->CreateCertificate(&call->ctx, &call->req, &call->resp, [call](grpc::Status st) {
    if (!st.ok()) {
      call->done(absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                              str_cat("CreateCertificate: ", st.error_message())));
      return;
    }
    std::vector<std::string> chain(call->resp.cert_chain().begin(), call->resp.cert_chain().end());
    call->done(std::move(chain));
  });
}

void LocalCaClient::create_certificate(const std::string& csr_pem, const SpiffeId& identity, std::chrono::seconds ttl,
                                       Done done) {
  auto req = crypto::CertificateRequest::parse(csr_pem);
  if (!req.ok()) {
    done(req.status());
    return;
  }
  done(ca_->sign(*req, identity, ttl));
}

}  // namespace ambit::identity
