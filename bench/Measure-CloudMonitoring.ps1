<#
.SYNOPSIS
    Cloud runners: one agent following many SageMaker training jobs and Vertex AI CustomJobs, its requests a minute
    and its CPU and memory at steady state.
.DESCRIPTION
    bench/CloudBench `monitor`: the AWS stand-in (tests/AwsServer: SageMaker, STS, ECR with SigV4 checks) and the
    Google stand-in (tests/GoogleServer: the token endpoint and Vertex AI customJobs) run in the CloudBench process;
    an agent (the engine's LaunchAgent, max_jobs -1, builder noop, the runners' real polling) runs in a .NET process
    of its own, pointed at them with AWS_ENDPOINT_URL, CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM and a service-account
    key file whose token_uri is the stand-in's. -Jobs SageMaker jobs and -Jobs Vertex jobs are submitted; CloudBench
    sets every CustomJob running (training jobs start InProgress), waits -SettleSeconds for the per-job back-off to
    settle, then counts the status reads (DescribeTrainingJob, GetCustomJob) and samples the agent's CPU time and
    resident memory from /proc once a second for -SteadySeconds. Then every cloud job completes and every launch job
    must end Finished.

    Goal (issue 14): at steady state no more than one status read per job per 30 s. Needs Linux (/proc).
.PARAMETER Jobs
    Jobs per service (default 200).
.PARAMETER OutFile
    Also write the report to this file.
.EXAMPLE
    dotnet pwsh -NoProfile -File bench/Measure-CloudMonitoring.ps1
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 5000)] [int] $Jobs = 200,
    [ValidateRange(0, 600)] [int] $IdleSeconds = 10,
    [ValidateRange(0, 900)] [int] $SettleSeconds = 90,
    [ValidateRange(10, 1800)] [int] $SteadySeconds = 120,
    [string] $OutFile
)

$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'BenchCommon.ps1')

$work = New-BenchDirectory
$failed = $false
try {
    $project = Join-Path $PSScriptRoot 'CloudBench/CloudBench.csproj'
    $log = & dotnet build $project -c Release --nologo -v quiet 2>&1
    if ($LASTEXITCODE -ne 0) { $log | Out-Host; throw "dotnet build $project failed" }
    $report = [Collections.Generic.List[string]]::new()
    $report.Add("### Cloud runners: an agent following $Jobs SageMaker and $Jobs Vertex AI jobs")
    $report.Add('')
    $report.Add("Command: ``dotnet pwsh -NoProfile -File bench/Measure-CloudMonitoring.ps1 -Jobs $Jobs -IdleSeconds $IdleSeconds -SettleSeconds $SettleSeconds -SteadySeconds $SteadySeconds``")
    $report.Add('')
    $report.Add((Format-MachineInfo (Get-MachineInfo)))
    $report.Add('')
    $out = & dotnet (Get-BenchProgramPath CloudBench) monitor --dir (Join-Path $work 'monitor') --jobs $Jobs --idle $IdleSeconds --settle $SettleSeconds --steady $SteadySeconds
    if ($LASTEXITCODE -ne 0) { $failed = $true; Write-Warning "CloudBench monitor failed its checks (exit code $LASTEXITCODE)" }
    $report.AddRange([string[]]$out)
    $report.Add('')
    $report.Add('Goal (issue 14): at most one status read per job per 30 s at steady state.')
    $text = $report -join [Environment]::NewLine
    Save-BenchReport -Text $text -OutFile $OutFile
    $text
    if ($failed) { exit 1 }
}
finally {
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
