
+
)sidecar~not-an-ip~pod-without-namespace~x3type.googleapis.com/envoy.config.cluster.v3.Cluster