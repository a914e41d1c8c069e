#Requires -Version 7.4
<#
.SYNOPSIS
    W&B jobs (issue 13, speed): resolving and preparing an unchanged job a second time (artifact cache hit), and an
    agent's claim-to-start time when the job's image already exists (build skipped) against its first build.
.DESCRIPTION
    Builds and runs bench/JobBench (a console app on the engine's public API; not part of WandbLaunch.sln), so that
    no pwsh start-up or cmdlet binding is in the numbers: what is timed is the engine code the agent runs.

    Resolve (JobBench `resolve`): a new local store in a temporary folder (never the user's) with a code-artifact job
    (-Files files, about -Megabytes MB, made by JobCreator as New-WandbLaunchJobArtifact makes one) and a repo job
    (the same files committed to a `git init` repository, packed; WANDB_LAUNCH_ALLOW_LOCAL_GIT=1). Timed:
    JobResolver.ResolveAsync as the agent calls it, with an empty artifact cache (cold) and with a warm one
    (every file a cache hit), beside what a user would otherwise run: `cp -r` of the same files, `git clone` of the
    repository (local: hard links) and `git clone --no-local` (packs and transfers, as from a server). Interleaved
    rounds, rotating order, after warm-up rounds.

    Start (JobBench `start`, needs Docker: tools/Start-TestServices.ps1 starts the engine and builds the busybox test
    image FROM scratch if needed, and this script stops what it started): an agent in the JobBench process (docker
    builder, local-container queue) runs a code-artifact job with its own Dockerfile (FROM the test image). Pairs of
    samples: a new job version (one file changed) whose image is built, then the same version again (build
    skipped). Timed from the agent's events: claim (ack) → container started, split into resolve, build, launch.
    Every image built is removed at the end.
.PARAMETER Runs
    Timed rounds of the resolve part (default 15), after -Warmup rounds (default 2).
.PARAMETER StartRuns
    Pairs of the start part (default 10), after one warm-up pair.
.PARAMETER Files
    Files in the job's code (default 200).
.PARAMETER Megabytes
    Size of the job's code in MB (default 20).
.PARAMETER Part
    All (default), Resolve or Start.
.PARAMETER OutFile
    Also write the report to this file.
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-WandbJobs.ps1
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 1000)] [int] $Runs = 15,
    [ValidateRange(0, 100)] [int] $Warmup = 2,
    [ValidateRange(1, 200)] [int] $StartRuns = 10,
    [ValidateRange(3, 20000)] [int] $Files = 200,
    [ValidateRange(1, 2000)] [int] $Megabytes = 20,
    [ValidateSet('All', 'Resolve', 'Start')] [string] $Part = 'All',
    [string] $OutFile
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = Split-Path $PSScriptRoot -Parent
. (Join-Path $PSScriptRoot 'BenchCommon.ps1')

$project = Join-Path $PSScriptRoot 'JobBench/JobBench.csproj'
$buildLog = & dotnet build $project -c Release --nologo -v quiet 2>&1
if ($LASTEXITCODE -ne 0) { $buildLog | Out-Host; throw "dotnet build $project failed" }
$dll = Get-BenchProgramPath 'JobBench'

$given = @($PSBoundParameters.GetEnumerator() | Where-Object Key -ne 'OutFile' | ForEach-Object { "-$($_.Key) $($_.Value)" })
$command = (@('dotnet pwsh -NoProfile -File bench/Measure-WandbJobs.ps1') + $given) -join ' '
$machine = Get-MachineInfo
$report = [System.Collections.Generic.List[string]]::new()
$verdicts = [System.Collections.Generic.List[string]]::new()
$report.Add('### W&B jobs: resolving an unchanged job again, and skipping its image build')
$report.Add('')
$report.Add("Command: ``$command``")
$report.Add('')
$report.Add((Format-MachineInfo $machine))
$report.Add('')

function Invoke-JobBench([string[]] $Arguments) {
    $lines = & dotnet $dll @Arguments
    if ($LASTEXITCODE -ne 0) { $lines | Out-Host; throw "JobBench $($Arguments[0]) failed (exit code $LASTEXITCODE)" }
    foreach ($line in $lines) {
        if ($line -like 'VERDICT: *') { $verdicts.Add('- ' + $line.Substring(9)) } else { $report.Add($line) }
    }
}

$temp = New-BenchDirectory
$servicesBefore = @(Get-ChildItem (Join-Path $root 'out/services') -Filter '*.pid.json' -ErrorAction Ignore).Count
try {
    if ($Part -in 'All', 'Resolve') {
        Invoke-JobBench @('resolve', '--dir', (Join-Path $temp 'resolve'), '--files', $Files, '--mb', $Megabytes, '--runs', $Runs, '--warmup', $Warmup)
    }
    if ($Part -in 'All', 'Start') {
        & (Join-Path $root 'tools/Start-TestServices.ps1') | Out-Null
        if ($env:WBL_TEST_DOCKER -ne '1') {
            $report.Add('#### Claim → start with Docker: skipped (no Docker engine; see tools/Start-TestServices.ps1).')
            $verdicts.Add('- build skipped for an unchanged job: **not measured** (no Docker engine)')
        }
        else {
            Invoke-JobBench @('start', '--dir', (Join-Path $temp 'start'), '--base-image', $env:WBL_TEST_BASE_IMAGE, '--files', $Files, '--mb', $Megabytes, '--runs', $StartRuns)
        }
    }
}
finally {
    Remove-Item -Recurse -Force $temp -ErrorAction Ignore
    # Only what this run started (recorded by Start-TestServices.ps1 in this checkout) is stopped.
    $servicesAfter = @(Get-ChildItem (Join-Path $root 'out/services') -Filter '*.pid.json' -ErrorAction Ignore).Count
    if ($servicesAfter -gt $servicesBefore) { & (Join-Path $root 'tools/Stop-TestServices.ps1') | Out-Null }
}

$report.Add('#### Verdict')
$report.Add('')
foreach ($verdict in $verdicts) { $report.Add($verdict) }
$report.Add("- Load average at end (1/5/15 min): $(Get-LoadAverage)")
$text = $report -join [Environment]::NewLine
$text
Save-BenchReport -Text $text -OutFile $OutFile
