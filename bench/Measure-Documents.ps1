#Requires -Version 7.4
<#
.SYNOPSIS
    Measures what reading ordinary YAML and JSON documents costs, to show that the document limits (depth, size,
    alias expansion, finite numbers) cost nothing measurable.
.DESCRIPTION
    In this one pwsh process: imports the module given by -ModulePath (default: this repository's build), finds the
    engine's StructuredText and JsonTree, then times, interleaved call by call, each of

      k8s manifest (YAML)      a realistic Kubernetes Job manifest with a template placeholder, ~80 lines
      k8s manifest (JSON)      the same as JSON
      launch-config.yaml       a full agent config
      2,000 env vars (YAML)    a manifest whose container has 2,000 environment variables (~90 KB)
      2,000 env vars (JSON)    the same as JSON
      hashtable → JSON tree    JsonTree.FromObject of the manifest as nested hashtables (what -Configuration @{...} does)

    Each call is timed on its own with a Stopwatch around a direct call of the engine method (no cmdlet, no store),
    so the numbers are the parsing cost alone. Run it against a build of the commit before the limits with
    -ModulePath <that checkout>/WandbLaunch.psd1 to compare; compare medians taken in one sitting.
.PARAMETER Calls
    Timed calls of each document (default 2000).
.PARAMETER Warmup
    Untimed calls of each document first (default 200).
.PARAMETER ModulePath
    The WandbLaunch.psd1 to measure (default: this repository's build).
.PARAMETER OutFile
    Also write the results as Markdown to this file.
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-Documents.ps1 -OutFile out/bench/documents.md
#>
[CmdletBinding()]
param(
    [ValidateRange(10, 1000000)]
    [int] $Calls = 2000,

    [ValidateRange(1, 100000)]
    [int] $Warmup = 200,

    [string] $ModulePath,

    [string] $OutFile
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
. (Join-Path $PSScriptRoot 'BenchCommon.ps1')

$machine = Get-MachineInfo
if (-not $ModulePath) { $ModulePath = Get-BenchModulePath }
Import-Module $ModulePath -Force

# The module loads its engine into its own load context: find the types there, not by name in the session. Builds
# from before the engine loaded on first use have it loaded by the import; later ones load it when PowerShell's
# context asks for it (the module's resolver hands over its private copy).
$engine = [System.Runtime.Loader.AssemblyLoadContext]::All.Assemblies | Where-Object { $_.GetName().Name -eq 'WandbLaunch.Engine' } | Select-Object -First 1
if (-not $engine) { $engine = [System.Runtime.Loader.AssemblyLoadContext]::Default.LoadFromAssemblyName([System.Reflection.AssemblyName]::new('WandbLaunch.Engine')) }
if (-not $engine) { throw 'The WandbLaunch.Engine assembly is not loaded.' }
$structuredText = $engine.GetType('WandbLaunch.Engine.Documents.StructuredText', $true)
$jsonTree = $engine.GetType('WandbLaunch.Engine.Documents.JsonTree', $true)

$manifestYaml = @'
apiVersion: batch/v1
kind: Job
metadata:
  namespace: ml-training
  labels:
    team: vision
    cost-center: "4711"
  annotations:
    example.com/owner: alice
spec:
  backoffLimit: 0
  ttlSecondsAfterFinished: 3600
  activeDeadlineSeconds: 86400
  template:
    metadata:
      labels:
        team: vision
    spec:
      restartPolicy: Never
      serviceAccountName: trainer
      nodeSelector:
        cloud.google.com/gke-accelerator: nvidia-tesla-t4
      tolerations:
        - key: nvidia.com/gpu
          operator: Exists
          effect: NoSchedule
      securityContext:
        runAsUser: 1000
        runAsGroup: 1000
        fsGroup: 1000
      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: imagenet
        - name: shm
          emptyDir:
            medium: Memory
            sizeLimit: 8Gi
      containers:
        - name: train
          imagePullPolicy: IfNotPresent
          args: [--epochs, "90", --batch-size, "256", --lr, "0.1"]
          resources:
            limits:
              cpu: "{{cpus}}"
              memory: 32Gi
              nvidia.com/gpu: 1
            requests:
              cpu: 4
              memory: 16Gi
          env:
            - name: NCCL_DEBUG
              value: INFO
            - name: OMP_NUM_THREADS
              value: "8"
            - name: DATA_DIR
              value: /data
          volumeMounts:
            - name: data
              mountPath: /data
              readOnly: true
            - name: shm
              mountPath: /dev/shm
          readinessProbe:
            exec:
              command: [cat, /tmp/ready]
            initialDelaySeconds: 5
            periodSeconds: 10
          ports:
            - containerPort: 8080
              protocol: TCP
'@

$launchConfig = @'
# launch-config.yaml
entity: vision-team
queues:
  - gpu-large
  - gpu-small
  - cpu
max_jobs: 4
max_schedulers: 1
verbosity: 1
stopped_run_timeout: 120
environment:
  type: local
registry:
  type: local
  uri: registry.example.com/ml/train
builder:
  type: docker
  build-context-store: ""
'@

$parse = { param($text) $structuredText::Parse($text, $null, 'BenchDocument') }
$manifest = (& $parse $manifestYaml).Root
# The module may carry its own System.Text.Json: use its types, with an explicit type resolver (pwsh turns off the
# reflection-based default).
$stj = $manifest.GetType().Assembly
$jsonNode = $stj.GetType('System.Text.Json.Nodes.JsonNode', $true)
$jsonOptions = [Activator]::CreateInstance($stj.GetType('System.Text.Json.JsonSerializerOptions', $true))
$jsonOptions.TypeInfoResolver = [Activator]::CreateInstance($stj.GetType('System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver', $true))
$jsonOptions.WriteIndented = $true
$toJson = { param($node) $node.ToJsonString($jsonOptions) }
$manifestJson = & $toJson $manifest

$large = $manifest.DeepClone()
$envList = $large['spec']['template']['spec']['containers'][0]['env']
for ($i = 0; $i -lt 2000; $i++) {
    $envList.Add($jsonNode::Parse("{`"name`": `"VAR_$i`", `"value`": `"value number $i of the benchmark`"}"))
}
$largeJson = & $toJson $large
# Block-style YAML of the same tree, written by the engine's own writer.
$largeYaml = $engine.GetType('WandbLaunch.Engine.Documents.YamlWriter', $true)::Write($large)
$hashtable = $manifestJson | ConvertFrom-Json -AsHashtable -Depth 100

$cases = @(
    @{ Name = 'k8s manifest (YAML)'; Bytes = $manifestYaml.Length; Run = { $null = & $parse $manifestYaml } }
    @{ Name = 'k8s manifest (JSON)'; Bytes = $manifestJson.Length; Run = { $null = & $parse $manifestJson } }
    @{ Name = 'launch-config.yaml'; Bytes = $launchConfig.Length; Run = { $null = & $parse $launchConfig } }
    @{ Name = '2,000 env vars (YAML)'; Bytes = $largeYaml.Length; Run = { $null = & $parse $largeYaml } }
    @{ Name = '2,000 env vars (JSON)'; Bytes = $largeJson.Length; Run = { $null = & $parse $largeJson } }
    @{ Name = 'hashtable → JSON tree (manifest)'; Bytes = $manifestJson.Length; Run = { $null = $jsonTree::FromObject($hashtable, 'BenchValue', '') } }
)

# Sanity: every document reads to the same tree.
foreach ($text in $manifestJson, $manifestYaml) {
    if (-not $jsonNode::DeepEquals((& $parse $text).Root, $manifest)) { throw 'A manifest form read differently.' }
}
if (-not $jsonNode::DeepEquals((& $parse $largeYaml).Root, (& $parse $largeJson).Root)) { throw 'The large documents read differently.' }

$samples = foreach ($c in $cases) { , [System.Collections.Generic.List[double]]::new($Calls) }
$sw = [System.Diagnostics.Stopwatch]::new()
$ticksToUs = 1e6 / [System.Diagnostics.Stopwatch]::Frequency
for ($round = 0; $round -lt $Warmup + $Calls; $round++) {
    $timed = $round -ge $Warmup
    for ($k = 0; $k -lt $cases.Count; $k++) {
        $run = $cases[$k].Run
        $sw.Restart()
        & $run
        $sw.Stop()
        if ($timed) { $samples[$k].Add($sw.ElapsedTicks * $ticksToUs) }
    }
}

$rows = for ($k = 0; $k -lt $cases.Count; $k++) {
    $s = [double[]]$samples[$k]
    [ordered]@{
        'Document'      = $cases[$k].Name
        'Characters'    = '{0:N0}' -f $cases[$k].Bytes
        'Median (µs)'   = '{0:N1}' -f (Get-Median $s)
        'p95 (µs)'      = '{0:N1}' -f (Get-Percentile $s 95)
        'Min (µs)'      = '{0:N1}' -f ($s | Measure-Object -Minimum).Minimum
    }
}
$table = ConvertTo-MarkdownTable -Rows $rows -RightAligned 'Characters', 'Median (µs)', 'p95 (µs)', 'Min (µs)'
$report = @(
    "### Reading documents ($Calls interleaved calls each after $Warmup warm-up calls)"
    ''
    "Command: ``dotnet pwsh -NoProfile -File bench/Measure-Documents.ps1 -Calls $Calls -Warmup $Warmup``; module: ``$ModulePath``"
    ''
    Format-MachineInfo $machine
    "- Load average at end (1/5/15 min): $(Get-LoadAverage)"
    ''
    $table
) -join [Environment]::NewLine

Save-BenchReport -Text $report -OutFile $OutFile
$report
