# The docker builder, the registry and the local-container runner against the REAL Docker engine and the REAL
# htpasswd-protected registry that tools/Start-TestServices.ps1 starts (WBL_TEST_DOCKER=1, WBL_TEST_REGISTRY...).
# Without them every test is skipped with the reason; under CI=true they run (and fail) instead.
# Agents run as PowerShell jobs in this session (-AsJob) or in a child pwsh; every image, container and registry
# repository a test makes carries this run's random token in its name, so the cleanup touches nothing else.

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force

    $script:SkipReason = if ($env:WBL_TEST_DOCKER -ne '1' -and $env:CI -ne 'true') {
        'no Docker engine and registry here: WBL_TEST_DOCKER is not 1 (tools/Start-TestServices.ps1 starts them; build.ps1 -Task Test runs it)'
    }
    if ($SkipReason) { return }
    if ($env:WBL_TEST_DOCKER -ne '1') { throw 'CI=true, so the Docker tests must run, but WBL_TEST_DOCKER is not 1: run tools/Start-TestServices.ps1 first.' }

    New-TestStore | Out-Null
    $script:Token = [guid]::NewGuid().ToString('n').Substring(0, 8)
    $script:Base = $env:WBL_TEST_BASE_IMAGE
    $script:Registry = $env:WBL_TEST_REGISTRY
    $script:RegistryUser = $env:WBL_TEST_REGISTRY_USER
    $script:RegistryPassword = $env:WBL_TEST_REGISTRY_PASSWORD
    $script:RegistryCredential = [pscredential]::new($RegistryUser, (ConvertTo-SecureString $RegistryPassword -AsPlainText -Force))
    $script:Agents = [Collections.Generic.List[object]]::new()
    $script:DanglingLayers = [Collections.Generic.List[string]]::new()
    # A build step in the job log: BuildKit's '#5 [2/3] RUN ...' or the classic builder's 'Step 2/3 : RUN ...'.
    $script:BuildStepLine = '(?m)^(#\d+ \[(stage-\d+ )?\d+/\d+\] |Step \d+/\d+)'
    $script:PushedImages = [Collections.Generic.List[string]]::new()
    $script:SavedEnvironment = @{ DOCKER_CONFIG = $env:DOCKER_CONFIG; WANDB_LAUNCH_LEASE_SECONDS = $env:WANDB_LAUNCH_LEASE_SECONDS }

    function New-AgentConfig([hashtable] $Builder) {
        # JSON is YAML: launch-config.yaml with just the builder block (the queues come from -Queue).
        $path = Join-Path (New-TestDirectory) 'launch-config.yaml'
        @{ builder = $Builder } | ConvertTo-Json -Depth 5 | Set-Content $path
        $path
    }

    function Start-TestAgent {
        param([string[]] $Queue, [hashtable] $Builder = @{ type = 'docker' }, [pscredential] $Credential, [int] $MaxJobs = 1)
        $extra = @{}
        if ($Credential) { $extra.RegistryCredential = $Credential }
        $agent = Start-WandbLaunchAgent -Queue $Queue -ConfigPath (New-AgentConfig $Builder) -MaxJobs $MaxJobs -AsJob @extra
        $script:Agents.Add($agent)
        $agent
    }

    function Stop-TestAgent($Agent) {
        $Agent | Stop-Job
        $Agent | Remove-Job -Force
        [void] $script:Agents.Remove($Agent)
    }

    function Get-AgentText($Agent) {
        # Everything the agent wrote: status and job lines, warnings, errors, progress.
        @(@($Agent.Information | ForEach-Object { "$($_.MessageData)" }) +
            @($Agent.Warning | ForEach-Object Message) +
            @($Agent.Error | ForEach-Object { "$_" }) +
            @($Agent.Progress | ForEach-Object { "$($_.Activity): $($_.StatusDescription)" })) -join "`n"
    }

    function Wait-AgentText($Agent, [string] $Pattern, [int] $Seconds = 30) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while ([DateTime]::UtcNow -lt $deadline) {
            $text = Get-AgentText $Agent
            if ($text -match $Pattern) { return $text }
            Start-Sleep -Milliseconds 200
        }
        throw "The agent did not write '$Pattern' within $Seconds s. It wrote:`n$(Get-AgentText $Agent)"
    }

    function Wait-TestJob([Parameter(ValueFromPipeline)] $Job, [int] $Timeout = 120) {
        process { $Job | Wait-WandbLaunchJob -Timeout $Timeout -ErrorAction Stop }
    }

    function Wait-JobState($Job, [string] $State, [int] $Seconds = 60, [string] $LogPattern) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while ([DateTime]::UtcNow -lt $deadline) {
            $current = Get-WandbLaunchJob -Id $Job.Id
            if ("$($current.State)" -eq $State -and (-not $LogPattern -or (Get-TestLog $current) -match $LogPattern)) { return $current }
            if ($current.State -in 'Finished', 'Failed', 'Stopped') { throw "Job $($Job.Id) ended $($current.State) before reaching $State`: $($current.FailureMessage)" }
            Start-Sleep -Milliseconds 200
        }
        throw "Job $($Job.Id) did not reach $State (and log '$LogPattern') within $Seconds s; it is $((Get-WandbLaunchJob -Id $Job.Id).State)."
    }

    function Get-TestLog($Job) { (@($Job | Get-WandbLaunchJobLog) -join "`n") }

    function Get-BuiltImage($Job) {
        # The agent notes "image <name> (Dockerfile: <origin>)" in the job's log.
        if ((Get-TestLog $Job) -match '(?m)^\[agent\] image (\S+) \(Dockerfile: (.*)\)$') {
            [pscustomobject]@{ Image = $Matches[1]; Origin = $Matches[2]; Tag = $Matches[1].Split(':')[-1] }
        }
    }

    function New-CodeDirectory([string] $Label, [hashtable] $Files) {
        $dir = Join-Path ([IO.Path]::GetTempPath()) "wbl-$Token-$Label"
        New-Item -ItemType Directory -Path $dir -Force | Out-Null
        foreach ($name in $Files.Keys) {
            $path = Join-Path $dir $name
            New-Item -ItemType Directory -Path (Split-Path $path) -Force | Out-Null
            # Unix line endings: these files end up in Linux containers.
            [IO.File]::WriteAllText($path, ($Files[$name] -replace "`r`n", "`n"))
        }
        $dir
    }

    function Test-LocalImage([string] $Image) {
        & docker image inspect $Image *> $null
        $LASTEXITCODE -eq 0
    }

    function Test-Container([string] $Id) {
        & docker container inspect $Id *> $null
        $LASTEXITCODE -eq 0
    }

    function New-DockerConfig([string] $User, [string] $Password) {
        # A Docker config file as `docker login` writes it: auths.<registry>.auth = base64(user:password).
        $dir = New-TestDirectory
        $auth = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes("${User}:$Password"))
        @{ auths = @{ $Registry = @{ auth = $auth } } } | ConvertTo-Json -Depth 5 | Set-Content (Join-Path $dir 'config.json')
        $dir
    }

    function Get-ManifestStatus([string] $Image, [pscredential] $Credential) {
        # HEAD /v2/<repository>/manifests/<tag>, straight to the registry.
        $name, $tag = $Image.Substring($Registry.Length + 1) -split ':', 2
        $request = @{
            Uri = "http://$Registry/v2/$name/manifests/$tag"; Method = 'Head'; SkipHttpErrorCheck = $true
            Headers = @{ Accept = 'application/vnd.docker.distribution.manifest.v2+json' }
        }
        if ($Credential) { $request += @{ Authentication = 'Basic'; Credential = $Credential; AllowUnencryptedAuthentication = $true } }
        (Invoke-WebRequest @request).StatusCode
    }

    $script:DockerfileJob = @{
        'Dockerfile.wandb' = "FROM $Base`nCOPY hello.txt /hello.txt`nCMD [`"cat`", `"/hello.txt`"]`n"
        'hello.txt'        = "hello from $Token`n"
    }
}

AfterAll {
    if ($SkipReason) { return }
    foreach ($agent in @($Agents)) {
        $agent | Stop-Job -ErrorAction SilentlyContinue
        $agent | Remove-Job -Force -ErrorAction SilentlyContinue
    }
    foreach ($name in $SavedEnvironment.Keys) { Set-Item "env:$name" $SavedEnvironment[$name] }
    # Containers of this run's jobs (a failing test may leave one behind) and images named with the token.
    @(Get-WandbLaunchJob -ErrorAction SilentlyContinue | Where-Object Handle | ForEach-Object Handle) + @(& docker ps -aq --filter "name=$Token") |
        Where-Object { $_ } | ForEach-Object { & docker rm -f $_ *> $null }
    @(& docker images --format '{{.Repository}}:{{.Tag}}') | Where-Object { $_ -match $Token } | ForEach-Object { & docker rmi -f $_ *> $null }
    # Layers a failed build committed before its failing step are left untagged; remove the ones this run made.
    $DanglingLayers | ForEach-Object { & docker rmi $_ *> $null }
    # Manifests this run pushed (the registry allows deletes).
    foreach ($image in $PushedImages | Sort-Object -Unique) {
        $name, $tag = $image.Substring($Registry.Length + 1) -split ':', 2
        $request = @{ Authentication = 'Basic'; Credential = $RegistryCredential; AllowUnencryptedAuthentication = $true; SkipHttpErrorCheck = $true }
        $found = Invoke-WebRequest @request -Method Head -Uri "http://$Registry/v2/$name/manifests/$tag" -Headers @{ Accept = 'application/vnd.docker.distribution.manifest.v2+json' }
        if ($found.StatusCode -eq 200) {
            Invoke-WebRequest @request -Method Delete -Uri "http://$Registry/v2/$name/manifests/$($found.Headers['Docker-Content-Digest'] | Select-Object -First 1)" | Out-Null
        }
    }
    Get-ChildItem ([IO.Path]::GetTempPath()) -Filter "wbl-$Token-*" -Directory | Remove-Item -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Docker builder, registry and local-container runner (real engine and registry)' {
    BeforeEach {
        if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason }
    }

    It 'has the test services it needs' {
        $env:WBL_TEST_DOCKER | Should -Be '1' -Because 'CI=true runs these tests, so tools/Start-TestServices.ps1 must have started the engine and registry'
        & docker version --format '{{.Server.Version}}' | Should -Not -BeNullOrEmpty
        Test-LocalImage $Base | Should -BeTrue -Because "the base image $Base is built by tools/Start-TestServices.ps1"
    }

    Context 'Builder selection' {
        BeforeAll {
            if ($SkipReason) { return }
            New-WandbLaunchQueue -Name select -Resource local-container | Out-Null

            function Get-ChosenBuilder([hashtable] $Builder) {
                $agent = Start-TestAgent -Queue select -Builder $Builder
                try {
                    $text = Wait-AgentText $agent 'polling'
                    if ($text -match 'builder (\w+)') { $Matches[1] }
                }
                finally { Stop-TestAgent $agent }
            }

            function New-SelectionScript([string] $DockerHost, [string] $Body) {
                # A fresh pwsh with its own store and DOCKER_HOST, starting an agent with an empty builder block.
                $store = Join-Path (New-TestDirectory) 'launch.db'
                @"
`$ErrorActionPreference = 'Stop'
`$env:DOCKER_HOST = '$DockerHost'
`$env:WANDB_LAUNCH_DB = '$store'
Import-Module `$env:WBL_MODULE
New-WandbLaunchQueue -Name q -Resource local-container | Out-Null
function Start-Agent([string] `$Builder) {
    `$config = Join-Path (Split-Path `$env:WANDB_LAUNCH_DB) "`$([guid]::NewGuid()).yaml"
    Set-Content `$config "builder: `$Builder"
    Start-WandbLaunchAgent -Queue q -ConfigPath `$config -AsJob
}
function Wait-Polling(`$Agent) {
    foreach (`$i in 1..150) {
        `$text = @(`$Agent.Information | ForEach-Object { "`$(`$_.MessageData)" }) -join "``n"
        if (`$text -match 'polling') { return `$text }
        Start-Sleep -Milliseconds 200
    }
    throw 'the agent did not start polling'
}
$Body
"@
            }
        }

        It 'uses the docker builder for builder.type docker' {
            Get-ChosenBuilder @{ type = 'docker' } | Should -Be 'docker'
        }

        It 'uses the noop builder for builder.type noop' {
            Get-ChosenBuilder @{ type = 'noop' } | Should -Be 'noop'
        }

        It 'uses docker for an empty builder block when the engine answers' {
            Get-ChosenBuilder @{} | Should -Be 'docker'
        }

        It 'uses noop for an empty builder block, and refuses builder.type docker, when DOCKER_HOST points at a socket that does not exist (fresh pwsh)' {
            $missing = "unix:///tmp/wbl-$Token-missing/docker.sock"
            $result = Invoke-FreshPwsh (New-SelectionScript $missing @'
$agent = Start-Agent '{}'
"EMPTY: $(Wait-Polling $agent)"
$agent | Stop-Job; $agent | Remove-Job -Force
try { Start-Agent '{type: docker}' | Out-Null; 'DOCKER: started' }
catch { "DOCKER: $($_.FullyQualifiedErrorId) $($_.Exception.Message)" }
'@)
            $text = $result.Output -join "`n"
            $result.ExitCode | Should -Be 0 -Because $text
            $text | Should -Match 'EMPTY: .*builder noop'
            $text | Should -Match 'DOCKER: DockerEngineUnreachable'
            $text | Should -Match ([regex]::Escape($missing))
        }

        It 'honours DOCKER_HOST: an engine reached through a socket at another path builds and runs (fresh pwsh)' {
            $engine = if ($env:DOCKER_HOST) { $env:DOCKER_HOST } else { 'unix:///var/run/docker.sock' }
            if ($engine -notlike 'unix://*') { Set-ItResult -Skipped -Because "the engine is at $engine, not a unix socket this test can link to"; return }
            $dir = New-Item -ItemType Directory -Path ([IO.Path]::GetTempPath()) -Name "wbl-$Token-sock" -Force
            $link = Join-Path $dir 'engine.sock'
            New-Item -ItemType SymbolicLink -Path $link -Target ([uri] $engine).LocalPath -Force | Out-Null
            $code = New-CodeDirectory 'dockerhost' $DockerfileJob
            $result = Invoke-FreshPwsh (New-SelectionScript "unix://$link" @"
`$agent = Start-Agent '{}'
"EMPTY: `$(Wait-Polling `$agent)"
`$job = Submit-WandbLaunchJob q -Uri '$code' | Wait-WandbLaunchJob -Timeout 120
"JOB: `$(`$job.State) `$(`$job.FailureMessage)"
`$job | Get-WandbLaunchJobLog
`$agent | Stop-Job; `$agent | Remove-Job -Force
"@)
            $text = $result.Output -join "`n"
            $result.ExitCode | Should -Be 0 -Because $text
            $text | Should -Match 'EMPTY: .*builder docker'
            $text | Should -Match 'JOB: Finished'
            $text | Should -Match "hello from $Token"
        }
    }

    Context 'docker builder with a local image (no destination)' {
        BeforeAll {
            if ($SkipReason) { return }
            New-WandbLaunchQueue -Name build -Resource local-container | Out-Null
            $script:BuildAgent = Start-TestAgent -Queue build -Builder @{ type = 'docker' }
            $script:ScriptDir = New-CodeDirectory 'script' @{ 'run.sh' = "echo uid=`$(id -u)`necho pwd=`$(pwd)`necho marker=v1`n" }
            $script:ScriptArgs = @{ builder = @{ base_image = $Base } }
        }

        It 'builds from a directory with Dockerfile.wandb and runs the image' {
            $code = New-CodeDirectory 'wandbfile' $DockerfileJob
            $job = Submit-WandbLaunchJob build -Uri $code | Wait-TestJob
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $job.ExitCode | Should -Be 0
            $log = Get-TestLog $job
            $log | Should -Match "hello from $Token"
            # BuildKit names the step '#2 [1/3] FROM docker.io/library/<base>'; the classic builder 'Step 1/3 : FROM <base>'.
            $log | Should -Match "(?m)^(#\d+ \[1/\d+\] FROM (docker\.io/library/)?|Step 1/\d+ : FROM )$([regex]::Escape($Base))$"
            $built = Get-BuiltImage $job
            $built.Origin | Should -Be 'Dockerfile.wandb beside the entry point'
            $built.Tag | Should -Match '^[0-9a-f]{8}$'
            Test-LocalImage $built.Image | Should -BeTrue
            # Build progress reaches the agent's progress stream (Write-Progress in the foreground).
            @($BuildAgent.Progress | Where-Object Activity -EQ "Building $($built.Image)").Count | Should -BeGreaterThan 0
        }

        It 'generates a Dockerfile for non-Python code with builder.base_image: runs as uid 1000 in /mnt/wandb' {
            $job = Submit-WandbLaunchJob build -Uri $ScriptDir -EntryPoint sh, run.sh -ResourceArgs $ScriptArgs | Wait-TestJob
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $log = Get-TestLog $job
            $log | Should -Match '(?m)^uid=1000$'
            $log | Should -Match '(?m)^pwd=/mnt/wandb$'
            $log | Should -Match '(?m)^marker=v1$'
            $built = Get-BuiltImage $job
            $built.Origin | Should -Be 'generated'
            & docker image inspect --format '{{.Config.User}}' $built.Image | Should -Be '1000:0'
            $script:FirstScriptJob = $job
        }

        It 'skips the build of an unchanged job, and the skip is fast' {
            $job = Submit-WandbLaunchJob build -Uri $ScriptDir -EntryPoint sh, run.sh -ResourceArgs $ScriptArgs | Wait-TestJob
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $log = Get-TestLog $job
            $image = (Get-BuiltImage $FirstScriptJob).Image
            (Get-BuiltImage $job).Image | Should -Be $image
            $log | Should -Match "$([regex]::Escape($image)) already exists locally: build skipped"
            $log | Should -Not -Match $BuildStepLine
            $log | Should -Match '(?m)^marker=v1$'
            # Taken to started: the skip (an image lookup) plus creating and starting the container.
            $seconds = ($job.StartedAt - $job.LeasedAt).TotalSeconds
            Write-Host "    unchanged job: taken to running in $([math]::Round($seconds, 2)) s (first build: $([math]::Round(($FirstScriptJob.StartedAt - $FirstScriptJob.LeasedAt).TotalSeconds, 2)) s)"
            $seconds | Should -BeLessThan 5
        }

        It 'builds a new tag when a file of the job changes' {
            [IO.File]::WriteAllText((Join-Path $ScriptDir 'run.sh'), "echo uid=`$(id -u)`necho marker=v2`n")
            $job = Submit-WandbLaunchJob build -Uri $ScriptDir -EntryPoint sh, run.sh -ResourceArgs $ScriptArgs | Wait-TestJob
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $log = Get-TestLog $job
            (Get-BuiltImage $job).Tag | Should -Not -Be (Get-BuiltImage $FirstScriptJob).Tag
            $log | Should -Match $BuildStepLine
            $log | Should -Match '(?m)^marker=v2$'
        }

        It 'builds from overrides.dockerfile over the job''s own Dockerfile' {
            $code = New-CodeDirectory 'override' @{
                'Dockerfile'               = "FROM $Base`nCMD [`"echo`", `"from-Dockerfile`"]`n"
                'docker/Custom.Dockerfile' = "FROM $Base`nCMD [`"echo`", `"from-override-$Token`"]`n"
            }
            $job = Submit-WandbLaunchJob build -Spec @{ uri = $code; overrides = @{ dockerfile = 'docker/Custom.Dockerfile' } } | Wait-TestJob
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $log = Get-TestLog $job
            $log | Should -Match "(?m)^from-override-$Token$"
            $log | Should -Not -Match 'from-Dockerfile'
            (Get-BuiltImage $job).Origin | Should -Be 'overrides.dockerfile (docker/Custom.Dockerfile)'
        }

        It 'fails the job at stage build, naming the failing step, when a RUN step fails' {
            # The token keeps the first RUN out of the engine's build cache, so its output is in this job's log.
            $code = New-CodeDirectory 'runfails' @{ 'Dockerfile.wandb' = "FROM $Base`nRUN echo before-the-failure-$Token`nRUN exit 3`nCMD [`"true`"]`n" }
            $job = Submit-WandbLaunchJob build -Uri $code | Wait-TestJob
            $job.State | Should -Be 'Failed'
            $job.FailureStage | Should -Be 'build'
            $job.FailureMessage | Should -Match 'failed at (Step 3/\d+ : |\[3/\d+\] )RUN exit 3'
            $job.FailureMessage | Should -Match '(non-zero code|exit code): 3'
            $log = Get-TestLog $job
            $log | Should -Match "(?m)^before-the-failure-$Token$"
            # The layer of step 2, committed before step 3 failed (the last ' ---> <id>' line before step 3).
            if ($log -match '(?s) ---> ([0-9a-f]{12})\s+Step 3/') { $DanglingLayers.Add($Matches[1]) }
        }

        It 'reports the requirements a build could not install as a build warning in W&B''s words, and runs the image' {
            # The line the bootstrap of a generated image writes to stderr (the token keeps the step out of the build cache).
            $code = New-CodeDirectory 'failedpackages' @{ 'Dockerfile.wandb' = "FROM $Base`nRUN echo 'ERROR: Failed to install: bad-$Token==1.0,worse==2. During automated build process.' >&2`nCMD [`"true`"]`n" }
            $job = Submit-WandbLaunchJob build -Uri $code | Wait-TestJob
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $built = Get-BuiltImage $job
            $warning = @($job.Warnings | Where-Object Stage -EQ 'build')
            $warning.Count | Should -Be 1
            $warning[0].Message | Should -BeExactly "Failed to install the following packages: bad-$Token==1.0,worse==2 for image: $($built.Image). Will attempt to launch image without them."
        }

        It 'with -Build builds -Uri here, queues an image job for it, and a noop agent runs the image without building' {
            New-WandbLaunchQueue -Name prebuilt -Resource local-container | Out-Null
            $code = New-CodeDirectory 'prebuilt' $DockerfileJob
            $job = Submit-WandbLaunchJob prebuilt -Uri $code -Build -ConfigPath (New-AgentConfig @{ type = 'docker' }) -JobName "prebuilt-$Token" -Project builds
            $spec = $job.SpecJson | ConvertFrom-Json
            $spec.job | Should -Match "/prebuilt-$($Token):v0$"
            $spec.uri | Should -BeNullOrEmpty
            $image = (Get-WandbLaunchJobArtifact -Path $spec.job).Definition.Image
            Test-LocalImage $image | Should -BeTrue
            $agent = Start-TestAgent -Queue prebuilt -Builder @{ type = 'noop' }
            try {
                $done = $job | Wait-TestJob
                $done.State | Should -Be 'Finished' -Because $done.FailureMessage
                $log = Get-TestLog $done
                $log | Should -Match "hello from $Token"
                $log | Should -Not -Match $BuildStepLine
            }
            finally { Stop-TestAgent $agent }
        }

        It 'refuses -Build for a local-process queue with W&B''s message, and -Build with a noop builder, queueing nothing' {
            New-WandbLaunchQueue -Name buildlocal -Resource local-process | Out-Null
            $code = New-CodeDirectory 'buildlocal' $DockerfileJob
            $err = $null
            Submit-WandbLaunchJob buildlocal -Uri $code -EntryPoint sh, x.sh -Build -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -BeLike 'BuildForLocalProcess,*'
            $err[0].Exception.Message | Should -Match 'Cannot build a docker image for the resource: local-process'
            @(Get-WandbLaunchJob -Queue buildlocal).Count | Should -Be 0
            New-WandbLaunchQueue -Name buildnoop -Resource local-container | Out-Null
            Submit-WandbLaunchJob buildnoop -Uri $code -Build -ConfigPath (New-AgentConfig @{ type = 'noop' }) -Project builds -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -BeLike 'BuildNeedsDockerBuilder,*'
            @(Get-WandbLaunchJob -Queue buildnoop).Count | Should -Be 0
            # The project the image job would go to is checked before anything is built.
            Submit-WandbLaunchJob buildnoop -Uri $code -Build -ConfigPath (New-AgentConfig @{ type = 'docker' }) -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $err[0].FullyQualifiedErrorId | Should -BeLike 'JobProjectMissing,*'
        }

        It 'fails non-Python code without a base image at stage build, naming builder.base_image' {
            $job = Submit-WandbLaunchJob build -Uri $ScriptDir -EntryPoint sh, run.sh | Wait-TestJob
            $job.State | Should -Be 'Failed'
            $job.FailureStage | Should -Be 'build'
            $job.FailureMessage | Should -Match 'builder\.base_image'
            # The advice names only parameters that Submit-WandbLaunchJob has.
            $parameters = (Get-Command Submit-WandbLaunchJob).Parameters.Keys
            [regex]::Matches($job.FailureMessage, 'Submit-WandbLaunchJob((?:\s+-\w+)+)') | ForEach-Object { $_.Groups[1].Value -split '\s+' } |
                Where-Object { $_ } | ForEach-Object { $_.TrimStart('-') | Should -BeIn $parameters }
        }
    }

    Context 'Pushing to the htpasswd-protected registry' {
        BeforeAll {
            if ($SkipReason) { return }
            $script:PushDir = New-CodeDirectory 'push' $DockerfileJob
            $script:PushJobs = [Collections.Generic.List[object]]::new()
            $script:PushAgents = [Collections.Generic.List[object]]::new()
            New-WandbLaunchQueue -Name push -Resource local-container | Out-Null
            $script:PushAgent = Start-TestAgent -Queue push -Credential $RegistryCredential -Builder @{ type = 'docker'; destination = "$Registry/wbl-$Token/cred" }
            $PushAgents.Add($PushAgent)
        }

        It 'pushes with -RegistryCredential, and the image can be pulled back' {
            $job = Submit-WandbLaunchJob push -Uri $PushDir | Wait-TestJob
            $PushJobs.Add($job)
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            Get-TestLog $job | Should -Match "hello from $Token"
            $image = (Get-BuiltImage $job).Image
            $PushedImages.Add($image)
            $image | Should -Match "^$([regex]::Escape($Registry))/wbl-$Token/cred:[0-9a-f]{8}$"
            @($PushAgent.Progress | Where-Object Activity -EQ "Pushing $image").Count | Should -BeGreaterThan 0
            Get-ManifestStatus $image $RegistryCredential | Should -Be 200
            Get-ManifestStatus $image | Should -Be 401 -Because 'the registry is protected'

            # Pull it back with docker itself, logged in through a temporary Docker config.
            & docker rmi -f $image *> $null
            Test-LocalImage $image | Should -BeFalse
            $config = New-DockerConfig $RegistryUser $RegistryPassword
            $pull = & docker --config $config pull $image 2>&1
            $LASTEXITCODE | Should -Be 0 -Because "$pull"
            Test-LocalImage $image | Should -BeTrue
            $script:PushedImage = $image
        }

        It 'skips the build when the tag is already in the registry' {
            & docker rmi -f $PushedImage *> $null
            $job = Submit-WandbLaunchJob push -Uri $PushDir | Wait-TestJob
            $PushJobs.Add($job)
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $log = Get-TestLog $job
            $log | Should -Match "$([regex]::Escape($PushedImage)) is already in $([regex]::Escape($Registry)): build skipped"
            $log | Should -Not -Match $BuildStepLine
            $log | Should -Match "hello from $Token" -Because 'the runner pulls the image it did not build'
        }

        It 'builds a W&B code job with W&B''s tag, pushes it, and the next run finds it in the registry instead of building' {
            $dir = New-CodeDirectory 'jobpush' @{
                'Dockerfile.wandb' = "FROM $Base`nCOPY run.sh /run.sh`nENTRYPOINT [`"sh`", `"/run.sh`"]`n"
                'run.sh'           = "echo job-pushed-$Token`n"
            }
            $created = New-WandbLaunchJobArtifact -Path $dir -EntryPoint 'sh run.sh' -Project pushjobs -Name "pushjob-$Token" -WarningAction SilentlyContinue
            $first = Submit-WandbLaunchJob push -Job $created.Path -Project pushjobs | Wait-TestJob
            $PushJobs.Add($first)
            $first.State | Should -Be 'Finished' -Because $first.FailureMessage
            $image = (Get-BuiltImage $first).Image
            $PushedImages.Add($image)
            $image | Should -Match "^$([regex]::Escape($Registry))/wbl-$Token/cred:[0-9a-f]{8}$"
            Get-ManifestStatus $image $RegistryCredential | Should -Be 200
            Get-TestLog $first | Should -Match "(?m)^job-pushed-$Token$"

            & docker rmi -f $image *> $null
            $second = Submit-WandbLaunchJob push -Job $created.Path -Project pushjobs | Wait-TestJob
            $PushJobs.Add($second)
            $second.State | Should -Be 'Finished' -Because $second.FailureMessage
            $log = Get-TestLog $second
            (Get-BuiltImage $second).Image | Should -Be $image
            $log | Should -Match "$([regex]::Escape($image)) is already in $([regex]::Escape($Registry)): build skipped"
            $log | Should -Not -Match $BuildStepLine
            $log | Should -Match "(?m)^job-pushed-$Token$"
        }

        It 'pushes with credentials from a Docker config file (auths, base64) in DOCKER_CONFIG' {
            $env:DOCKER_CONFIG = New-DockerConfig $RegistryUser $RegistryPassword
            try {
                New-WandbLaunchQueue -Name pushcfg -Resource local-container | Out-Null
                $agent = Start-TestAgent -Queue pushcfg -Builder @{ type = 'docker'; destination = "$Registry/wbl-$Token/config" }
                $PushAgents.Add($agent)
                $job = Submit-WandbLaunchJob pushcfg -Uri $PushDir | Wait-TestJob
                $PushJobs.Add($job)
            }
            finally { $env:DOCKER_CONFIG = $SavedEnvironment.DOCKER_CONFIG }
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $image = (Get-BuiltImage $job).Image
            $PushedImages.Add($image)
            $image | Should -Match "^$([regex]::Escape($Registry))/wbl-$Token/config:"
            Get-ManifestStatus $image $RegistryCredential | Should -Be 200
        }

        It 'runs a pushed image on the noop builder: the runner pulls it with the Docker config''s credentials' {
            New-WandbLaunchQueue -Name pull -Resource local-container | Out-Null
            $agent = Start-TestAgent -Queue pull -Builder @{ type = 'noop' }
            $PushAgents.Add($agent)
            & docker rmi -f $PushedImage *> $null
            Test-LocalImage $PushedImage | Should -BeFalse
            $env:DOCKER_CONFIG = New-DockerConfig $RegistryUser $RegistryPassword
            try { $job = Submit-WandbLaunchJob pull -DockerImage $PushedImage | Wait-TestJob }
            finally { $env:DOCKER_CONFIG = $SavedEnvironment.DOCKER_CONFIG }
            $PushJobs.Add($job)
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $log = Get-TestLog $job
            $log | Should -Match "pulling $([regex]::Escape($PushedImage))"
            $log | Should -Match "hello from $Token"
        }

        It 'fails the job at stage build with a wrong password, naming the registry and user but not the password' {
            $wrong = "wrong-$([guid]::NewGuid().ToString('n'))"
            New-WandbLaunchQueue -Name badpass -Resource local-container | Out-Null
            $agent = Start-TestAgent -Queue badpass -Credential ([pscredential]::new($RegistryUser, (ConvertTo-SecureString $wrong -AsPlainText -Force))) `
                -Builder @{ type = 'docker'; destination = "$Registry/wbl-$Token/wrong" }
            $PushAgents.Add($agent)
            $job = Submit-WandbLaunchJob badpass -Uri $PushDir | Wait-TestJob
            $PushJobs.Add($job)
            $job.State | Should -Be 'Failed'
            $job.FailureStage | Should -Be 'build'
            $job.FailureMessage | Should -Match ([regex]::Escape($Registry))
            $job.FailureMessage | Should -Match "'$RegistryUser'"
            $job.FailureMessage | Should -Not -Match $wrong
            Get-TestLog $job | Should -Not -Match $wrong
            Get-AgentText $agent | Should -Not -Match $wrong
        }

        It 'never writes the registry password to a job log or the agent output' {
            $PushJobs.Count | Should -BeGreaterThan 3
            foreach ($job in $PushJobs) { Get-TestLog $job | Should -Not -Match $RegistryPassword -Because "job $($job.Id)" }
            foreach ($agent in $PushAgents) { Get-AgentText $agent | Should -Not -Match $RegistryPassword }
        }
    }

    Context 'noop builder' {
        BeforeAll {
            if ($SkipReason) { return }
            New-WandbLaunchQueue -Name noop -Resource local-container | Out-Null
            Start-TestAgent -Queue noop -Builder @{ type = 'noop' } | Out-Null
        }

        It 'runs a -DockerImage job' {
            $job = Submit-WandbLaunchJob noop -DockerImage $Base -EntryPoint echo -Arguments "noop-$Token" | Wait-TestJob
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            Get-TestLog $job | Should -Match "(?m)^noop-$Token$"
        }

        It 'fails a job that needs a build at stage build, naming builder.type' {
            $job = Submit-WandbLaunchJob noop -Uri (New-CodeDirectory 'noopcode' $DockerfileJob) | Wait-TestJob
            $job.State | Should -Be 'Failed'
            $job.FailureStage | Should -Be 'build'
            $job.FailureMessage | Should -Match 'builder\.type'
            $job.FailureMessage | Should -Match 'noop'
        }
    }

    Context 'local-container runner' {
        BeforeAll {
            if ($SkipReason) { return }
            New-WandbLaunchQueue -Name run -Resource local-container -Configuration @{ env = @{ FROM_QUEUE = 'queue-value'; SHARED = 'queue' } } | Out-Null
            $script:RunAgent = Start-TestAgent -Queue run -Builder @{ type = 'docker' } -MaxJobs 4

            function Get-Refusal([scriptblock] $Action) {
                try { & $Action; $null } catch { $_ }
            }
        }

        It 'records exit code 0 as Finished and a non-zero exit code as Failed at stage run with the last output' {
            $ok = Submit-WandbLaunchJob run -DockerImage $Base -EntryPoint sh, -c -Arguments 'echo fine; exit 0'
            $bad = Submit-WandbLaunchJob run -DockerImage $Base -EntryPoint sh, -c -Arguments 'echo first words; echo last words; exit 7'
            $ok = $ok | Wait-TestJob
            $bad = $bad | Wait-TestJob
            $ok.State | Should -Be 'Finished' -Because $ok.FailureMessage
            $ok.ExitCode | Should -Be 0
            $bad.State | Should -Be 'Failed'
            $bad.FailureStage | Should -Be 'run'
            $bad.ExitCode | Should -Be 7
            $bad.FailureMessage | Should -Match 'code 7'
            $bad.FailureMessage | Should -Match 'last output: last words'
            foreach ($job in $ok, $bad) { Test-Container $job.Handle | Should -BeFalse -Because 'the container is removed at the end' }
        }

        It 'gives the container env from resource_args (mapping and list forms) and the W&B environment' {
            $job = Submit-WandbLaunchJob run -DockerImage $Base -EntryPoint env -ResourceArgs @{ env = @{ SHARED = 'submit' }; e = @('LISTED=yes', 'ALSO=two words') } |
                Wait-TestJob
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $log = Get-TestLog $job
            $log | Should -Match '(?m)^FROM_QUEUE=queue-value$'
            $log | Should -Match '(?m)^SHARED=submit$'
            $log | Should -Match '(?m)^LISTED=yes$'
            $log | Should -Match '(?m)^ALSO=two words$'
            $log | Should -Match "(?m)^WANDB_RUN_ID=$($job.RunId)$"
            $log | Should -Match "(?m)^WANDB_DOCKER=$([regex]::Escape($Base))$"
            $log | Should -Match '(?m)^WANDB_LAUNCH=True$'
            $log | Should -Match "(?m)^WANDB_LAUNCH_QUEUE_NAME=run$"
        }

        It 'applies memory, cpus, shm-size, pids-limit, workdir, name, ulimit and command' {
            $name = "wbl-$Token-limits"
            $job = Submit-WandbLaunchJob run -DockerImage $Base -ResourceArgs @{
                memory = '64m'; cpus = 0.5; 'shm-size' = '32m'; 'pids-limit' = 50; workdir = '/tmp'; name = $name
                ulimit = @('nofile=512:1024')
                command = @('sh', '-c', 'echo pwd=$(pwd); echo nofile=$(ulimit -n)/$(ulimit -Hn); df -k /dev/shm | tail -n 1; sleep 3')
            }
            $inspect = $null
            foreach ($i in 1..150) {
                $inspect = & docker inspect --format '{{json .}}' $name 2>$null
                if ($LASTEXITCODE -eq 0) { break }
                Start-Sleep -Milliseconds 200
            }
            $LASTEXITCODE | Should -Be 0 -Because "the container $name should appear while the job runs"
            $container = $inspect | ConvertFrom-Json
            $container.Name | Should -Be "/$name"
            $container.Config.WorkingDir | Should -Be '/tmp'
            $container.HostConfig.Memory | Should -Be (64MB)
            $container.HostConfig.NanoCpus | Should -Be 500000000
            $container.HostConfig.ShmSize | Should -Be (32MB)
            $container.HostConfig.PidsLimit | Should -Be 50
            $container.HostConfig.Ulimits[0].Name | Should -Be 'nofile'
            $container.HostConfig.Ulimits[0].Soft | Should -Be 512
            $container.HostConfig.Ulimits[0].Hard | Should -Be 1024
            $container.Config.Labels.'wandb.ai/run-id' | Should -Be $job.RunId
            $job = $job | Wait-TestJob
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $log = Get-TestLog $job
            $log | Should -Match '(?m)^pwd=/tmp$'
            $log | Should -Match '(?m)^nofile=512/1024$'
            $log | Should -Match '(?m)^shm\s+32768\s'
            Test-Container $name | Should -BeFalse
        }

        It 'refuses an unsupported key at New-WandbLaunchQueue, listing the allowed keys' {
            $refusal = Get-Refusal { New-WandbLaunchQueue -Name badargs -Resource local-container -Configuration @{ privileged = $true } -ErrorAction Stop }
            $refusal | Should -Not -BeNullOrEmpty
            $refusal.FullyQualifiedErrorId | Should -BeLike 'UnsupportedContainerArgument*'
            $refusal.Exception.Message | Should -Match "'privileged'"
            $refusal.Exception.Message | Should -Match 'Allowed: .*cpus.*memory.*shm-size.*ulimit'
            Get-WandbLaunchQueue -Name badargs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }

        It 'refuses an unsupported key at Submit-WandbLaunchJob, listing the allowed keys' {
            $refusal = Get-Refusal { Submit-WandbLaunchJob run -DockerImage $Base -ResourceArgs @{ volume = '/:/host' } -ErrorAction Stop }
            $refusal | Should -Not -BeNullOrEmpty
            $refusal.FullyQualifiedErrorId | Should -BeLike 'UnsupportedContainerArgument*'
            $refusal.Exception.Message | Should -Match "'volume'"
            $refusal.Exception.Message | Should -Match 'Allowed: .*pids-limit.*workdir'
            @(Get-WandbLaunchJob -Queue run -State Pending).Count | Should -Be 0
        }

        It 'stops a running container on Stop-WandbLaunchJob: the job is Stopped and the container gone' {
            $job = Submit-WandbLaunchJob run -DockerImage $Base -EntryPoint sh, -c -Arguments "trap 'exit 143' TERM; echo waiting; sleep 60 & wait"
            $running = Wait-JobState $job 'Running' -LogPattern '(?m)^waiting$'
            Test-Container $running.Handle | Should -BeTrue
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $stopped = $job | Stop-WandbLaunchJob -Wait -PassThru
            $stopped.State | Should -Be 'Stopped'
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 20
            Test-Container $running.Handle | Should -BeFalse
        }

        It 're-attaches to a running container after its agent is killed, records its exit code and removes it' {
            New-WandbLaunchQueue -Name reattach -Resource local-container | Out-Null
            $config = New-AgentConfig @{ type = 'noop' }
            $script = Join-Path (New-TestDirectory) 'agent.ps1'
            Set-Content $script "Import-Module '$ModulePath'; Start-WandbLaunchAgent -Queue reattach -ConfigPath '$config' -Name doomed-agent"
            $env:WANDB_LAUNCH_LEASE_SECONDS = '2'
            try {
                $output = Join-Path (Split-Path $script) 'agent.out'
                $process = Start-Process -FilePath (Get-PwshCommand) -ArgumentList '-NoProfile', '-NonInteractive', '-File', $script -PassThru `
                    -RedirectStandardOutput $output -RedirectStandardError "$output.err"
                try {
                    $job = Submit-WandbLaunchJob reattach -DockerImage $Base -EntryPoint sh, -c -Arguments 'echo started; sleep 8; echo done; exit 0'
                    $running = Wait-JobState $job 'Running' -LogPattern '(?m)^started$'
                }
                finally { Stop-Process -Id $process.Id -Force }
                $process.WaitForExit()
                (& docker inspect --format '{{.State.Running}}' $running.Handle) | Should -Be 'true' -Because 'killing the agent leaves the container running'

                $agent = Start-TestAgent -Queue reattach -Builder @{ type = 'noop' }
            }
            finally { $env:WANDB_LAUNCH_LEASE_SECONDS = $SavedEnvironment.WANDB_LAUNCH_LEASE_SECONDS }
            $job = $job | Wait-TestJob -Timeout 60
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            $job.ExitCode | Should -Be 0
            $job.Handle | Should -Be $running.Handle
            $job.AgentId | Should -Not -Be $running.AgentId
            $log = Get-TestLog $job
            $log | Should -Match 're-attached to container'
            $log | Should -Match '(?m)^done$'
            Get-AgentText $agent | Should -Match 're-attached'
            Test-Container $running.Handle | Should -BeFalse -Because 'the new agent removes the container at the end'
        }

        It 'with -LeaveJobsRunning, a stopped agent leaves its running container to the next agent, which follows it to its end' {
            New-WandbLaunchQueue -Name handoff -Resource local-container | Out-Null
            $first = Start-WandbLaunchAgent -Queue handoff -ConfigPath (New-AgentConfig @{ type = 'noop' }) -LeaveJobsRunning -AsJob
            $script:Agents.Add($first)
            $job = Submit-WandbLaunchJob handoff -DockerImage $Base -EntryPoint sh, -c -Arguments 'echo before; sleep 5; echo after; exit 3'
            $running = Wait-JobState $job 'Running' -LogPattern '(?m)^before$'

            Stop-TestAgent $first
            $left = Get-WandbLaunchJob -Id $job.Id
            $left.State | Should -Be 'Running'
            (& docker inspect --format '{{.State.Running}}' $running.Handle) | Should -Be 'true' -Because 'the container keeps running'
            Get-TestLog $left | Should -Match 'keeps running, and the next agent serving queue handoff re-attaches to it'

            $second = Start-TestAgent -Queue handoff -Builder @{ type = 'noop' }
            $done = $job | Wait-TestJob -Timeout 60
            $done.State | Should -Be 'Failed'
            $done.ExitCode | Should -Be 3 -Because 'the second agent read the exit code of the container the first one started'
            $done.Handle | Should -Be $running.Handle
            $done.AgentId | Should -Not -Be $running.AgentId
            $log = Get-TestLog $done
            $log | Should -Match 'which stopped and left it running'
            $log | Should -Match '(?m)^after$'
            Test-Container $running.Handle | Should -BeFalse -Because 'the second agent removes the container at the end'
        }

        It 'Stop-WandbLaunchAgent -LeaveJobsRunning leaves the running container of an agent started without the switch' {
            New-WandbLaunchQueue -Name handoff2 -Resource local-container | Out-Null
            $first = Start-TestAgent -Queue handoff2 -Builder @{ type = 'noop' }
            $job = Submit-WandbLaunchJob handoff2 -DockerImage $Base -EntryPoint sh, -c -Arguments 'echo before; sleep 4; echo after'
            $running = Wait-JobState $job 'Running' -LogPattern '(?m)^before$'

            $stopped = Get-WandbLaunchAgent -Id $running.AgentId | Stop-WandbLaunchAgent -LeaveJobsRunning -Wait -PassThru
            $stopped.Status | Should -Be 'KILLED'
            (Get-WandbLaunchJob -Id $job.Id).State | Should -Be 'Running'
            (& docker inspect --format '{{.State.Running}}' $running.Handle) | Should -Be 'true'
            Stop-TestAgent $first

            Start-TestAgent -Queue handoff2 -Builder @{ type = 'noop' } | Out-Null
            $done = $job | Wait-TestJob -Timeout 60
            $done.State | Should -Be 'Finished' -Because $done.FailureMessage
            Get-TestLog $done | Should -Match '(?m)^after$'
        }
    }
}
