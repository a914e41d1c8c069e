# Connect-WandbLaunch to a W&B server: where the key comes from, what a wrong key, an unknown entity or a missing
# key gives, and that the key never shows (a small scripted HttpListener in the child pwsh). Then the README's
# cmdlets on the W&B server stand-in (tests/WandbServer, loaded in the child pwsh): queues, jobs, an agent running
# local-process jobs, Wait, Log and Stop, each checked against the server's own state.
BeforeAll {
    . $PSScriptRoot/Common.ps1

    $script:ServerScript = @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
$probe = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $probe.Start(); $port = $probe.LocalEndpoint.Port; $probe.Stop()
$listener = [Net.HttpListener]::new(); $listener.Prefixes.Add("http://127.0.0.1:$port/"); $listener.Start()
$server = Start-ThreadJob -ArgumentList $listener -ScriptBlock {
    param($listener)
    $good = 'Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('api:goodkey0123456789abcdef'))
    while ($listener.IsListening) {
        $context = $listener.GetContext()
        $body = [IO.StreamReader]::new($context.Request.InputStream).ReadToEnd()
        $status = 200
        if ($context.Request.Headers['Authorization'] -ne $good) { $status = 401; $reply = '{"errors":[{"message":"invalid api key"}]}' }
        elseif ($body -match 'EntityIsTeam' -and $body -match 'ghost') { $reply = '{"data":{"entity":null}}' }
        elseif ($body -match 'EntityIsTeam') { $reply = '{"data":{"entity":{"id":"RW50aXR5OjE=","isTeam":true}}}' }
        elseif ($body -match 'viewer') { $reply = '{"data":{"viewer":{"id":"VXNlcjox","entity":"alice","username":"alice-user"}}}' }
        else { $status = 400; $reply = '{"errors":[{"message":"unexpected"}]}' }
        $bytes = [Text.Encoding]::UTF8.GetBytes($reply)
        $context.Response.StatusCode = $status
        $context.Response.OutputStream.Write($bytes, 0, $bytes.Length)
        $context.Response.Close()
    }
}
$url = "http://127.0.0.1:$port"
# A failing script must still stop the listener, or the child waits for the server thread forever.
trap { $listener.Stop(); break }
function ErrorOf([scriptblock] $Block) {
    try { & $Block | Out-Null; 'no error' } catch { [pscustomobject]@{ Id = $_.FullyQualifiedErrorId; Text = "$_ $($_.ErrorDetails) $($_.ErrorDetails.RecommendedAction) $($_.Exception.ToString())" } }
}
'@
}

AfterAll {
    Remove-TestDirectories
}

Describe 'Connect-WandbLaunch to a W&B server' {
    It 'checks the key with the server, shows kind, URL, entity and user, and never the key' {
        $home_ = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ HOME = $home_; WANDB_API_KEY = $null; NETRC = $null; WANDB_BASE_URL = $null; WANDB_ENTITY = $null } -Script ($ServerScript + @'
$secure = ConvertTo-SecureString 'goodkey0123456789abcdef' -AsPlainText -Force
$connected = Connect-WandbLaunch -BaseUrl $url -ApiKey $secure
$shown = Get-WandbLaunchConnection
$printed = ($connected | Format-List * | Out-String) + ($shown | Format-Table | Out-String -Width 250) + ($connected | ConvertTo-Json)
$team = Connect-WandbLaunch -BaseUrl $url -ApiKey 'goodkey0123456789abcdef' -Entity ml-team
[pscustomobject]@{ Connected = $connected; Shown = $shown; Team = $team; Leaks = $printed.Contains('goodkey') } | ConvertTo-Json -Compress -Depth 3
$listener.Stop()
'@)
        $result.Connected.Kind | Should -BeExactly 'Wandb'
        $result.Connected.Location | Should -Match '^http://127\.0\.0\.1:\d+$'
        $result.Connected.DefaultEntity | Should -BeExactly 'alice'
        $result.Connected.User | Should -BeExactly 'alice-user'
        $result.Shown.Kind | Should -BeExactly 'Wandb'
        $result.Shown.User | Should -BeExactly 'alice-user'
        $result.Team.DefaultEntity | Should -BeExactly 'ml-team'
        $result.Leaks | Should -BeFalse
    }

    It 'takes the key from WANDB_API_KEY, else from the netrc entry wandb login wrote for the host and port' {
        $home_ = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ HOME = $home_; WANDB_API_KEY = $null; NETRC = $null; WANDB_BASE_URL = $null; WANDB_ENTITY = $null } -Script ($ServerScript + @'
Set-Content -Path (Join-Path $HOME '.netrc') -Value "machine 127.0.0.1:$(([uri]$url).Port)`n  login user`n  password goodkey0123456789abcdef"
$fromNetrc = Connect-WandbLaunch -BaseUrl $url
$env:WANDB_API_KEY = 'wrongkey0123456789'
$envWins = ErrorOf { Connect-WandbLaunch -BaseUrl $url }
$env:WANDB_BASE_URL = $url
$env:WANDB_API_KEY = 'goodkey0123456789abcdef'
$fromEnv = Connect-WandbLaunch -Wandb
[pscustomobject]@{ FromNetrc = $fromNetrc.User; EnvWins = $envWins.Id; FromEnv = $fromEnv.Location } | ConvertTo-Json -Compress
$listener.Stop()
'@)
        $result.FromNetrc | Should -BeExactly 'alice-user'
        $result.EnvWins | Should -BeLike 'WandbAuthFailed,*'
        $result.FromEnv | Should -Match '^http://127\.0\.0\.1:\d+$'
    }

    It 'a wrong key, an unknown entity, no key and a malformed key give clear errors without the key' {
        $home_ = New-TestDirectory
        $result = Invoke-FreshPwshJson -Environment @{ HOME = $home_; WANDB_API_KEY = $null; NETRC = $null; WANDB_BASE_URL = $null; WANDB_ENTITY = $null } -Script ($ServerScript + @'
$wrong = ErrorOf { Connect-WandbLaunch -BaseUrl $url -ApiKey 'wrongsecret0123456789' }
$ghost = ErrorOf { Connect-WandbLaunch -BaseUrl $url -ApiKey 'goodkey0123456789abcdef' -Entity ghost }
$none = ErrorOf { Connect-WandbLaunch -BaseUrl $url }
$bad = ErrorOf { Connect-WandbLaunch -BaseUrl $url -ApiKey "forged`nX-Header: secretpart" }
$after = Get-WandbLaunchConnection
[pscustomobject]@{ Wrong = $wrong; Ghost = $ghost; None = $none; Bad = $bad; StillLocal = $after.Kind } | ConvertTo-Json -Compress -Depth 3
$listener.Stop()
'@)
        $result.Wrong.Id | Should -BeLike 'WandbAuthFailed,*'
        $result.Wrong.Text | Should -Match 'WANDB_API_KEY'
        $result.Wrong.Text | Should -Not -Match 'wrongsecret'
        $result.Ghost.Id | Should -BeLike 'WandbEntityNotFound,*'
        $result.Ghost.Text | Should -Match 'ghost'
        $result.None.Id | Should -BeLike 'WandbApiKeyMissing,*'
        $result.None.Text | Should -Match 'wandb login'
        $result.Bad.Id | Should -BeLike 'WandbApiKeyInvalid,*'
        $result.Bad.Text | Should -Not -Match 'secretpart'
        $result.StillLocal | Should -BeExactly 'Local'
    }
}

Describe 'The cmdlets on a W&B server (the stand-in)' -Skip:$IsWindows {
    BeforeAll {
        $work = New-TestDirectory
        # The jobs do on the wire what the wandb SDK in a job does: wandb.init (upsertBucket with the run id, project
        # and entity the agent gave), and at the run's end its state; long.sh also reads the run's stop flag (as the
        # SDK does while a run goes on) and, once stopped, ends the run as killed.
        $bucket = @'
bucket() {
  curl -sS -u "api:$WANDB_API_KEY" -H 'Content-Type: application/json' "$WANDB_BASE_URL/graphql" --data \
    "{\"query\":\"mutation UpsertBucket(\$name: String, \$project: String, \$entity: String, \$state: String) { upsertBucket(input: {name: \$name, modelName: \$project, entityName: \$entity, state: \$state}) { bucket { id } } }\",\"variables\":{\"name\":\"$WANDB_RUN_ID\",\"project\":\"$WANDB_PROJECT\",\"entity\":\"$WANDB_ENTITY\",\"state\":\"$1\"}}" >/dev/null
}
'@
        Set-Content (Join-Path $work 'train.sh') ($bucket + "`n" + @'
bucket running
echo "training with CPUS=$CPUS"
sleep 1
echo "done training"
bucket finished
'@)
        Set-Content (Join-Path $work 'long.sh') ($bucket + "`n" + @'
bucket running
touch "inited-$WANDB_RUN_ID"
echo "long job started"
while true; do
  answer=$(curl -sS -u "api:$WANDB_API_KEY" -H 'Content-Type: application/json' "$WANDB_BASE_URL/graphql" --data \
    "{\"query\":\"query RunStoppedStatus(\$projectName: String, \$entityName: String, \$runId: String!) { project(name: \$projectName, entityName: \$entityName) { run(name: \$runId) { stopped } } }\",\"variables\":{\"projectName\":\"$WANDB_PROJECT\",\"entityName\":\"$WANDB_ENTITY\",\"runId\":\"$WANDB_RUN_ID\"}}")
  case "$answer" in *'"stopped":true'*) echo "stop requested"; bucket killed; exit 0 ;; esac
  sleep 1
done
'@)
        Set-Content (Join-Path $work 'agent.yaml') "stopped_run_timeout: 30`nmax_jobs: 2`n"

        $flowScript = @'
$ErrorActionPreference = 'Stop'
Import-Module $env:WBL_MODULE
Add-Type -Path $env:WBL_STANDIN
$server = [WandbLaunch.Tests.WandbServer.WandbStandIn]::new()
$agent = $null
$work = $env:WBL_WORK
try {
    $key = $server.AddUser('alice')
    Connect-WandbLaunch -BaseUrl $server.Url.ToString().TrimEnd('/') -ApiKey $key | Out-Null
    $r = [ordered]@{}

    New-WandbLaunchQueue -Name gpu -Resource local-process -Prioritization -Configuration '{"env": {"CPUS": "{{cpus}}"}}' `
        -TemplateVariable @{ cpus = @{ type = 'integer'; minimum = 1; maximum = 8; default = 2 } } | Out-Null
    New-WandbLaunchQueue -Name scratch -Resource local-process | Out-Null
    $r.Listed = @(Get-WandbLaunchQueue | ForEach-Object Name)
    Set-WandbLaunchQueue -Name scratch -Configuration '{"env": {"MODE": "changed"}}'
    $r.ScratchConfig = $server.Queue('alice', 'scratch').Config
    $r.Gpu = $server.Queue('alice', 'gpu') | Select-Object Project, PrioritizationMode, TemplateVariables
    Remove-WandbLaunchQueue -Name scratch -Confirm:$false
    $r.ScratchGone = $null -eq $server.Queue('alice', 'scratch')

    # Before any agent: a pending job, with priority and template values, then stopped.
    $pending = Submit-WandbLaunchJob -Queue gpu -Uri $work -EntryPoint sh, long.sh -Project proj -Priority High -TemplateVariable @{ cpus = 4 }
    $item = $server.Items('alice', 'gpu') | Where-Object Id -eq $pending.Id
    $r.Pending = [pscustomobject]@{ Id = $pending.Id; State = $item.State; Priority = $item.Priority; Spec = $item.RunSpec }
    $r.PendingListed = "$((Get-WandbLaunchJob -Id $pending.Id).State)"
    $pendingJob = (($item.RunSpec | ConvertFrom-Json).job -split '/')[-1] -replace ':.*$'
    $r.PendingJobArtifact = $server.Artifact('alice', 'proj', $pendingJob) | Select-Object Type, Files
    Stop-WandbLaunchJob -Id $pending.Id -Confirm:$false
    $r.PendingLeft = @($server.Items('alice', 'gpu') | Where-Object Id -eq $pending.Id).Count

    $agent = Start-WandbLaunchAgent -Queue gpu -ConfigPath (Join-Path $work 'agent.yaml') -Name pester-agent -AsJob
    $deadline = [DateTime]::UtcNow.AddSeconds(30)
    while (-not $agent.AgentId -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
    $r.AgentJobId = "$($agent.AgentId)"
    $r.Agents = @(Get-WandbLaunchAgent | ForEach-Object { "$($_.Id)" })
    $r.ServerAgents = @($server.Agents | ForEach-Object Id)

    $done = Submit-WandbLaunchJob -Queue gpu -Uri $work -EntryPoint sh, train.sh -Project proj -TemplateVariable @{ cpus = 3 }
    $ended = Wait-WandbLaunchJob -Id $done.Id -Timeout 90
    $r.Done = [pscustomobject]@{ Id = $done.Id; Waited = "$($ended.State)"; Listed = "$((Get-WandbLaunchJob -Id $done.Id).State)"; RunId = $ended.RunId
        RunState = $server.Run('alice', 'proj', $ended.RunId).State; ItemState = ($server.Items('alice', 'gpu') | Where-Object Id -eq $done.Id).State
        Finished = @(Get-WandbLaunchJob -State Finished | ForEach-Object Id) }
    $r.Log = @(Get-WandbLaunchJobLog -Id $done.Id)

    # A W&B job made by New-WandbLaunchJobArtifact, submitted by name and alias, run by the agent.
    $made = New-WandbLaunchJobArtifact -Path $work -Project proj -Name trainer -EntryPoint sh, train.sh -Alias prod
    $byJob = Submit-WandbLaunchJob -Queue gpu -Job 'alice/proj/trainer:prod' -Project proj -TemplateVariable @{ cpus = 5 }
    $jobEnded = Wait-WandbLaunchJob -Id $byJob.Id -Timeout 90
    $r.ByJob = [pscustomobject]@{ Made = "$($made.Path)"; State = "$($jobEnded.State)"; Log = @(Get-WandbLaunchJobLog -Id $byJob.Id)
        Listed = @(Get-WandbLaunchJobArtifact -Project proj | ForEach-Object Name)
        Server = $server.Artifact('alice', 'proj', 'trainer', 'prod') | Select-Object Type, VersionIndex, Aliases, Files }

    $long = Submit-WandbLaunchJob -Queue gpu -Uri $work -EntryPoint sh, long.sh -Project proj
    $deadline = [DateTime]::UtcNow.AddSeconds(60)
    do { Start-Sleep -Milliseconds 500; $j = Get-WandbLaunchJob -Id $long.Id }
    while (-not ("$($j.State)" -eq 'Running' -and (Test-Path (Join-Path $work "inited-$($j.RunId)"))) -and [DateTime]::UtcNow -lt $deadline)
    $r.LongBefore = "$($j.State)"
    $stopped = Stop-WandbLaunchJob -Id $long.Id -Wait -PassThru -Confirm:$false
    $r.Long = [pscustomobject]@{ State = "$($stopped.State)"; StopRequested = $stopped.StopRequested
        RunStopped = $server.Run('alice', 'proj', $j.RunId).Stopped; RunState = $server.Run('alice', 'proj', $j.RunId).State
        Log = @(Get-WandbLaunchJobLog -Id $long.Id -Tail 3) }

    # A runbook: no Connect-WandbLaunch, only the W&B variables and WANDB_LAUNCH_BACKEND, in a new session.
    $r.Runbook = Start-ThreadJob -ArgumentList $env:WBL_MODULE, $server.Url.ToString().TrimEnd('/'), $key -ScriptBlock {
        param($module, $url, $key)
        Import-Module $module
        $env:WANDB_BASE_URL = $url; $env:WANDB_API_KEY = $key; $env:WANDB_LAUNCH_BACKEND = 'wandb'
        $connection = Get-WandbLaunchConnection
        New-WandbLaunchQueue -Name from-runbook -Resource local-process | Out-Null
        $env:WANDB_LAUNCH_BACKEND = 'postgres'
        $bad = try { Get-WandbLaunchQueue -ErrorAction Stop | Out-Null; 'no error' } catch { "$($_.FullyQualifiedErrorId) $_" }
        $env:WANDB_LAUNCH_BACKEND = $null
        [pscustomobject]@{ Kind = "$($connection.Kind)"; Location = "$($connection.Location)"; Queues = @(Get-WandbLaunchQueue -ErrorAction SilentlyContinue | ForEach-Object Name); Bad = $bad }
    } | Receive-Job -Wait -AutoRemoveJob
    $r.RunbookQueue = $null -ne $server.Queue('alice', 'from-runbook')
    [pscustomobject]$r | ConvertTo-Json -Depth 4 -Compress
}
finally {
    if ($agent) { $agent | Stop-Job; $agent | Remove-Job -Force }
    $server.Dispose()
}
'@
        $standIn = & (Join-Path $RepoRoot 'tools/Find-WandbStandIn.ps1')
        $script:Flow = Invoke-FreshPwshJson -TimeoutSeconds 240 -Script $flowScript -Environment @{
            HOME = (New-TestDirectory); WBL_STANDIN = $standIn; WBL_WORK = $work
            WANDB_API_KEY = $null; WANDB_BASE_URL = $null; WANDB_ENTITY = $null; NETRC = $null; WANDB_LAUNCH_DB = $null
        }
    }

    It 'New-, Set-, Get- and Remove-WandbLaunchQueue act on the server''s queues' {
        $Flow.Listed | Should -Be @('gpu', 'scratch')
        $Flow.Gpu.Project | Should -BeExactly 'model-registry'
        $Flow.Gpu.PrioritizationMode | Should -BeExactly 'V0'
        ($Flow.Gpu.TemplateVariables | ConvertFrom-Json).cpus.schema.maximum | Should -Be 8
        # Stored as W&B stores a queue's configuration: under resource_args.<resource>.
        ($Flow.ScratchConfig | ConvertFrom-Json).resource_args.'local-process'.env.MODE | Should -BeExactly 'changed'
        $Flow.ScratchGone | Should -BeTrue
    }

    It 'Submit-WandbLaunchJob pushes with its priority and template values; Stop-WandbLaunchJob deletes a pending job from its queue' {
        $Flow.Pending.State | Should -BeExactly 'PENDING'
        $Flow.Pending.Priority | Should -Be 1
        $spec = $Flow.Pending.Spec | ConvertFrom-Json
        $spec.project | Should -BeExactly 'proj'
        $spec.resource_args.'local-process'.env.CPUS | Should -Be 4
        $Flow.PendingListed | Should -BeExactly 'Pending'
        # As wandb launch -u does: the uri became a code artifact and a job first, and the item names the job.
        $spec.job | Should -Match '^alice/proj/job-[^/:]+:v\d+$'
        $spec.PSObject.Properties.Name | Should -Not -Contain 'uri'
        $Flow.PendingJobArtifact.Type | Should -BeExactly 'job'
        $Flow.PendingJobArtifact.Files | Should -Contain 'wandb-job.json'
        $Flow.PendingLeft | Should -Be 0
    }

    It 'an agent started with -AsJob registers with the server, and Get-WandbLaunchAgent shows it' {
        $Flow.AgentJobId | Should -Not -BeNullOrEmpty
        $Flow.ServerAgents | Should -Be @($Flow.AgentJobId)
        $Flow.Agents | Should -Contain $Flow.AgentJobId
    }

    It 'the agent runs a local-process job to its end; Wait-WandbLaunchJob returns it Finished (its run''s state) and Get-WandbLaunchJobLog reads its log' {
        $Flow.Done.Waited | Should -BeExactly 'Finished'
        $Flow.Done.Listed | Should -BeExactly 'Finished'
        $Flow.Done.ItemState | Should -BeExactly 'CLAIMED'
        $Flow.Done.RunState | Should -BeExactly 'finished'
        $Flow.Done.Finished | Should -Contain $Flow.Done.Id
        $Flow.Log | Should -Contain 'training with CPUS=3'
        $Flow.Log | Should -Contain 'done training'
    }

    It 'New-WandbLaunchJobArtifact logs a W&B job on the server; Submit -Job runs it by alias; Get-WandbLaunchJobArtifact lists it' {
        $Flow.ByJob.Made | Should -BeExactly 'alice/proj/trainer:v0'
        $Flow.ByJob.Server.Type | Should -BeExactly 'job'
        $Flow.ByJob.Server.Aliases | Should -Contain 'prod'
        $Flow.ByJob.Server.Files | Should -Contain 'wandb-job.json'
        $Flow.ByJob.Listed | Should -Contain 'trainer'
        $Flow.ByJob.State | Should -BeExactly 'Finished'
        $Flow.ByJob.Log | Should -Contain 'training with CPUS=5'
    }

    It 'a runbook with WANDB_LAUNCH_BACKEND=wandb and the W&B variables needs no Connect-WandbLaunch; a bad value is a clear error' {
        $Flow.Runbook.Kind | Should -BeExactly 'Wandb'
        $Flow.RunbookQueue | Should -BeTrue
        $Flow.Runbook.Bad | Should -Match '^InvalidLaunchBackend,'
        $Flow.Runbook.Bad | Should -Match "'postgres'"
        $Flow.Runbook.Bad | Should -Not -Match ([regex]::Escape('at WandbLaunch'))
    }

    It 'Stop-WandbLaunchJob stops a running job through its run (stopRun), and -Wait returns it Stopped' {
        $Flow.LongBefore | Should -BeExactly 'Running'
        $Flow.Long.RunStopped | Should -BeTrue
        $Flow.Long.RunState | Should -BeExactly 'killed'
        $Flow.Long.State | Should -BeExactly 'Stopped'
        $Flow.Long.StopRequested | Should -BeTrue
        $Flow.Long.Log | Should -Contain 'stop requested'
    }
}
