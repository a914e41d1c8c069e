# Invoke-WandbLaunchJob on a W&B server connection: W&B's `wandb launch` without -q queues nothing and runs the job
# at once, its run reporting to the server (wandb/cli/cli.py `launch`, wandb/sdk/launch/_launch.py `_launch`). Here the
# launch job is recorded in the local store (WANDB_LAUNCH_DB) and the job cmdlets find it by id on the W&B connection.
# The W&B server stand-in (tests/WandbServer) runs in the child pwsh; the jobs are real local processes.
BeforeAll {
    . $PSScriptRoot/Common.ps1
}

AfterAll {
    Remove-TestDirectories
}

Describe 'Invoke-WandbLaunchJob on a W&B server (the stand-in)' -Skip:$IsWindows {
    # W&B's `wandb launch` without -q queues nothing and runs the job at once, its run reporting to the server
    # (wandb/cli/cli.py `launch`, wandb/sdk/launch/_launch.py `_launch`): here the launch job is recorded in the local
    # store (WANDB_LAUNCH_DB), and the job cmdlets find it by id on the W&B connection.
    BeforeAll {
        $work = New-TestDirectory
        $bucket = @'
bucket() {
  curl -sS -u "api:$WANDB_API_KEY" -H 'Content-Type: application/json' "$WANDB_BASE_URL/graphql" --data \
    "{\"query\":\"mutation UpsertBucket(\$name: String, \$project: String, \$entity: String, \$state: String) { upsertBucket(input: {name: \$name, modelName: \$project, entityName: \$entity, state: \$state}) { bucket { id } } }\",\"variables\":{\"name\":\"$WANDB_RUN_ID\",\"project\":\"$WANDB_PROJECT\",\"entity\":\"$WANDB_ENTITY\",\"state\":\"$1\"}}" >/dev/null
}
'@
        Set-Content (Join-Path $work 'train.sh') ($bucket + "`n" + @'
bucket running
echo "direct run of $WANDB_ENTITY by $WANDB_USERNAME at $WANDB_BASE_URL key=$WANDB_API_KEY"
bucket finished
'@)
        Set-Content (Join-Path $work 'long.sh') ($bucket + "`n" + @'
bucket running
echo "long direct run started"
sleep 60
'@)
        $invokeScript = @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
Add-Type -Path $env:WBL_STANDIN
$server = [WandbLaunch.Tests.WandbServer.WandbStandIn]::new()
$work = $env:WBL_WORK
$background = $null
try {
    $key = $server.AddUser('alice')
    Connect-WandbLaunch -BaseUrl $server.Url.ToString().TrimEnd('/') -ApiKey $key | Out-Null
    $server.ClearCalls()
    $r = [ordered]@{ Url = $server.Url.ToString().TrimEnd('/') }

    $null = Invoke-WandbLaunchJob -Resource local-process -Uri $work -EntryPoint sh, train.sh -Project proj -WhatIf 6>$null
    $r.WhatIf = [pscustomobject]@{ StoreMade = Test-Path $env:WANDB_LAUNCH_DB; Operations = @($server.Calls | ForEach-Object Fields | Sort-Object -Unique) }
    $server.ClearCalls()

    $job = Invoke-WandbLaunchJob -Resource local-process -Uri $work -EntryPoint sh, train.sh -Project proj 6>$null
    $ok = $?
    $r.Job = [pscustomobject]@{ Id = $job.Id; State = "$($job.State)"; Project = $job.Project; Entity = $job.Entity; RunId = $job.RunId; Ok = $ok }
    $r.RunState = $server.Run('alice', 'proj', $job.RunId).State
    $r.Listed = "$((Get-WandbLaunchJob -Id $job.Id).State)"
    $r.Log = @(Get-WandbLaunchJobLog -Id $job.Id)
    $r.Direct = @(Get-WandbLaunchJob -Project wandblaunch-direct | ForEach-Object Id)
    $r.ServerJobs = @(Get-WandbLaunchJob | ForEach-Object Id)
    $r.Missing = try { Get-WandbLaunchJob -Id no-such-job -ErrorAction Stop | Out-Null; 'no error' } catch { $_.FullyQualifiedErrorId }

    $background = Invoke-WandbLaunchJob -Resource local-process -Uri $work -EntryPoint sh, long.sh -Project proj -AsJob
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    do { Start-Sleep -Milliseconds 300; $j = if ($background.LaunchJobId) { Get-WandbLaunchJob -Id $background.LaunchJobId -ErrorAction SilentlyContinue } }
    while ("$($j.State)" -ne 'Running' -and [DateTime]::UtcNow -lt $deadline)
    $r.LongBefore = "$($j.State)"
    Stop-WandbLaunchJob -Id $j.Id -Confirm:$false
    $waited = Wait-WandbLaunchJob -Id $j.Id -Timeout 60
    $r.Long = [pscustomobject]@{ Waited = "$($waited.State)"; Log = @(Get-WandbLaunchJobLog -Id $j.Id) }
    $background | Wait-Job -Timeout 60 | Out-Null

    $r.Operations = @($server.Calls | ForEach-Object Fields | Sort-Object -Unique)
    $r.ServerQueues = @($server.Agents).Count
    $store = $env:WANDB_LAUNCH_DB
    $bytes = [IO.File]::ReadAllBytes($store) + $(if (Test-Path "$store-wal") { [IO.File]::ReadAllBytes("$store-wal") })
    $r.KeyInStore = [Text.Encoding]::Latin1.GetString($bytes).Contains($key)
    $r.KeyInLog = ($r.Log -join "`n").Contains($key)
    [pscustomobject]$r | ConvertTo-Json -Depth 4 -Compress
}
finally {
    if ($background) { $background | Stop-Job; $background | Remove-Job -Force }
    $server.Dispose()
}
'@
        $standIn = & (Join-Path $RepoRoot 'tools/Find-WandbStandIn.ps1')
        $home_ = New-TestDirectory
        $script:Invoked = Invoke-FreshPwshJson -TimeoutSeconds 240 -Script $invokeScript -Environment @{
            HOME = $home_; WBL_STANDIN = $standIn; WBL_WORK = $work
            WANDB_API_KEY = $null; WANDB_BASE_URL = $null; WANDB_ENTITY = $null; NETRC = $null; WANDB_LAUNCH_DB = (Join-Path $home_ 'direct.db')
        }
    }

    It 'runs the job at once, recorded in the local store, with the run reporting to the server' {
        $Invoked.Job.State | Should -BeExactly 'Finished'
        $Invoked.Job.Ok | Should -BeTrue
        $Invoked.Job.Project | Should -BeExactly 'wandblaunch-direct'
        $Invoked.Job.Entity | Should -BeExactly 'alice'
        $Invoked.RunState | Should -BeExactly 'finished'
        $Invoked.Log | Should -Contain "direct run of alice by alice at $($Invoked.Url) key=***"
    }

    It '-WhatIf records nothing: no local store, no job artifact, queue or item on the server' {
        $Invoked.WhatIf.StoreMade | Should -BeFalse
        $Invoked.Operations | Should -Contain 'createArtifact' -Because 'the run itself made its -Uri a W&B job on the server, as wandb launch -u does'
        foreach ($operation in 'createArtifact', 'createRunQueue', 'upsertRunQueue', 'pushToRunQueueByName', 'pushToRunQueue', 'createLaunchAgent') {
            $Invoked.WhatIf.Operations | Should -Not -Contain $operation
        }
    }

    It 'creates no queue, item or agent on the server, and keeps the API key out of the store and the log' {
        foreach ($operation in 'createRunQueue', 'upsertRunQueue', 'pushToRunQueueByName', 'pushToRunQueue', 'popFromRunQueue', 'createLaunchAgent') {
            $Invoked.Operations | Should -Not -Contain $operation
        }
        $Invoked.ServerQueues | Should -Be 0
        $Invoked.KeyInStore | Should -BeFalse
        $Invoked.KeyInLog | Should -BeFalse
    }

    It 'Get-, Get-WandbLaunchJobLog, Stop- and Wait-WandbLaunchJob -Id find the direct launch on the W&B connection' {
        $Invoked.Listed | Should -BeExactly 'Finished'
        $Invoked.Direct | Should -Contain $Invoked.Job.Id
        $Invoked.ServerJobs | Should -Not -Contain $Invoked.Job.Id
        $Invoked.Missing | Should -Match '^JobNotFound,'
        $Invoked.LongBefore | Should -BeExactly 'Running'
        $Invoked.Long.Waited | Should -BeExactly 'Stopped'
        $Invoked.Long.Log | Should -Contain 'long direct run started'
    }
}
