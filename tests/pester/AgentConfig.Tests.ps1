# The agent-config cmdlets against launch-config.yaml files as W&B users write them.
BeforeDiscovery {
    # W&B's agent reads the file with PyYAML (yaml.safe_load, YAML 1.1). When python3 has it, tests also check that
    # it reads our files as intended; otherwise those tests are skipped.
    . $PSScriptRoot/Common.ps1
    $script:PyYamlMissing = -not (Test-PyYaml)
}

BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force

    $script:NewCmd = 'WandbLaunch.AgentConfig.NewWandbLaunchAgentConfigCommand'
    $script:GetCmd = 'WandbLaunch.AgentConfig.GetWandbLaunchAgentConfigCommand'
    $script:SetCmd = 'WandbLaunch.AgentConfig.SetWandbLaunchAgentConfigCommand'
    $script:TestCmd = 'WandbLaunch.AgentConfig.TestWandbLaunchAgentConfigCommand'

    # A launch-config.yaml as W&B's docs write one for a kaniko agent on EKS, with keys WandbLaunch does not
    # interpret (the kaniko Job overrides) that must survive every change.
    $script:RealisticYaml = @'
# W&B launch agent config
queues:
  - gpu-queue
  - cpu-queue
entity: my-team
max_jobs: -1
max_schedulers: 2

builder:
  type: kaniko
  destination: 123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images
  build-context-store: s3://my-launch-bucket/build-context
  secret-name: regcred
  secret-key: .dockerconfigjson
  kaniko-config:
    metadata:
      annotations:
        karpenter.sh/do-not-disrupt: "true"
    spec:
      template:
        spec:
          nodeSelector:
            node.kubernetes.io/instance-type: m5.xlarge
          tolerations:
            - key: build
              operator: Exists
              effect: NoSchedule

environment:
  type: aws
  region: us-east-1
'@

    function New-ConfigFile {
        param([string] $Text = $script:RealisticYaml, [string] $Name = 'launch-config.yaml')
        $path = Join-Path (New-TestDirectory) $Name
        [IO.File]::WriteAllText($path, $Text)
        $path
    }

    function Get-ConfigJson([string] $Path) {
        <# The whole document as WandbLaunch reads it, as compact JSON. #>
        (Get-WandbLaunchAgentConfig -Path $Path).GetDocument().ToJsonString()
    }

    function Get-FileBytes([string] $Path) { [Convert]::ToBase64String([IO.File]::ReadAllBytes($Path)) }

    $script:PyYamlMissing = -not (Test-PyYaml)

    function Read-WithPyYaml([string] $Path) {
        <# The file as W&B's agent reads it, as JSON (sorted keys). #>
        $code = 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), sort_keys=True, default=repr))'
        $json = & python3 -c $code $Path
        if ($LASTEXITCODE -ne 0) { throw "PyYAML could not read $Path" }
        $json
    }

    function ConvertTo-SortedJson($Value) {
        <# JSON with sorted keys, comparable with Read-WithPyYaml. #>
        $Value | ConvertTo-Json -Depth 20 -Compress |
            & python3 -c 'import json, sys; print(json.dumps(json.loads(sys.stdin.read()), sort_keys=True))'
    }
}

AfterAll {
    Remove-TestDirectories
}

Describe 'Agent config cmdlets' {
    BeforeEach {
        # Tests change these; each test starts from none of them and leaves the session as it found it.
        $script:SavedEnv = @{}
        foreach ($name in 'WANDB_ENTITY', 'WANDB_LAUNCH_MAX_JOBS', 'HOME') { $script:SavedEnv[$name] = [Environment]::GetEnvironmentVariable($name) }
        $env:WANDB_ENTITY = $null
        $env:WANDB_LAUNCH_MAX_JOBS = $null
    }
    AfterEach {
        foreach ($name in $script:SavedEnv.Keys) { [Environment]::SetEnvironmentVariable($name, $script:SavedEnv[$name]) }
    }

    Context 'New-WandbLaunchAgentConfig' {
        It 'writes the keys W&B''s agent reads' {
            $path = Join-Path (New-TestDirectory) 'launch-config.yaml'
            $config = New-WandbLaunchAgentConfig -Path $path -Queue gpu-queue, cpu-queue -Entity my-team -MaxJobs -1 -MaxSchedulers 2 `
                -BuilderType kaniko -Destination 123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images `
                -BuildContextStore s3://my-launch-bucket/build-context -SecretName regcred -SecretKey .dockerconfigjson `
                -KanikoConfig @{ spec = @{ backoffLimit = 1 } } -EnvironmentType aws -Region us-east-1 -Verbosity 1 -StoppedRunTimeout 120 -SecureMode

            $text = Get-Content $path -Raw
            $text | Should -Match '(?m)^queues:\r?\n- gpu-queue\r?\n- cpu-queue\r?$'
            $text | Should -Match '(?m)^entity: my-team\r?$'
            $text | Should -Match '(?m)^max_jobs: -1\r?$'
            $text | Should -Match '(?m)^max_schedulers: 2\r?$'
            $text | Should -Match '(?m)^secure_mode: true\r?$'
            $text | Should -Match '(?m)^verbosity: 1\r?$'
            $text | Should -Match '(?m)^stopped_run_timeout: 120\r?$'
            $text | Should -Match '(?m)^builder:\r?\n  type: kaniko\r?$'
            $text | Should -Match '(?m)^  destination: 123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com/launch-images\r?$'
            $text | Should -Match '(?m)^  build-context-store: s3://my-launch-bucket/build-context\r?$'
            $text | Should -Match '(?m)^  secret-name: regcred\r?$'
            $text | Should -Match '(?m)^  secret-key: \.dockerconfigjson\r?$'
            $text | Should -Match '(?m)^  kaniko-config:\r?\n    spec:\r?\n      backoffLimit: 1\r?$'
            $text | Should -Match '(?m)^environment:\r?\n  type: aws\r?\n  region: us-east-1\r?$'
            # Only the keys that were given: W&B's agent supplies its own defaults for the rest.
            [regex]::Matches($text, '(?m)^([a-z_]+):').ForEach({ $_.Groups[1].Value }) |
                Should -Be @('queues', 'entity', 'max_jobs', 'max_schedulers', 'secure_mode', 'verbosity', 'stopped_run_timeout', 'builder', 'environment')

            $config.Path | Should -BeExactly $path
            $config.Queues | Should -Be @('gpu-queue', 'cpu-queue')
            $config.MaxJobs | Should -Be -1
            $config.Builder.Type | Should -BeExactly 'kaniko'
            $config.Environment.Region | Should -BeExactly 'us-east-1'
        }

        It 'writes a file that PyYAML (W&B''s agent) reads as intended' -Skip:$script:PyYamlMissing {
            $path = Join-Path (New-TestDirectory) 'launch-config.yaml'
            New-WandbLaunchAgentConfig -Path $path -Queue gpu-queue -Entity my-team -MaxJobs -1 -BuilderType docker `
                -Destination registry.example.com/team/images -Platform linux/amd64 | Out-Null
            Read-WithPyYaml $path | Should -BeExactly (ConvertTo-SortedJson ([ordered]@{
                        queues = @('gpu-queue'); entity = 'my-team'; max_jobs = -1
                        builder = [ordered]@{ type = 'docker'; destination = 'registry.example.com/team/images'; platform = 'linux/amd64' }
                    }))
        }

        It 'quotes strings that YAML 1.1 would read as something else (on, no, 12:30, 0755, dates, =)' {
            $path = Join-Path (New-TestDirectory) 'launch-config.yaml'
            $queues = 'on', 'no', 'yes', 'off', 'y', '12:30', '0755', '1_000', '2001-12-14', '=', 'true', '42', 'normal-queue'
            New-WandbLaunchAgentConfig -Path $path -Queue $queues -Entity off | Out-Null
            $text = Get-Content $path -Raw
            foreach ($q in $queues | Where-Object { $_ -ne 'normal-queue' }) {
                $text | Should -Match "(?m)^- ""$([regex]::Escape($q))""\r?$" -Because "'$q' must stay a string for every YAML reader"
            }
            $text | Should -Match '(?m)^- normal-queue\r?$'
            $text | Should -Match '(?m)^entity: "off"\r?$'
            (Get-WandbLaunchAgentConfig $path).Queues | Should -Be $queues
            if (-not $script:PyYamlMissing) {
                (Read-WithPyYaml $path | ConvertFrom-Json).queues | Should -Be $queues
            }
        }

        It 'writes only the keys given' {
            $path = Join-Path (New-TestDirectory) 'launch-config.yaml'
            New-WandbLaunchAgentConfig -Path $path -Queue a | Out-Null
            (Get-Content $path -Raw) -replace '\r', '' | Should -BeExactly "queues:`n- a`n"
        }

        It 'resolves a relative -Path against the PowerShell location and creates missing folders' {
            $dir = New-TestDirectory
            Push-Location $dir
            try {
                $config = New-WandbLaunchAgentConfig -Path ./sub/dir/launch-config.yaml -Queue a
            }
            finally {
                Pop-Location
            }
            $config.Path | Should -BeExactly (Join-Path $dir 'sub/dir/launch-config.yaml')
            Test-Path (Join-Path $dir 'sub/dir/launch-config.yaml') | Should -BeTrue
        }

        It 'writes ~/.config/wandb/launch-config.yaml when no -Path is given' {
            $env:HOME = New-TestDirectory
            New-WandbLaunchAgentConfig -Queue a | Out-Null
            Test-Path (Join-Path $env:HOME '.config/wandb/launch-config.yaml') | Should -BeTrue
        }

        It 'refuses to overwrite an existing file without -Force (AgentConfigExists), leaving it byte-identical' {
            $path = New-ConfigFile
            $bytes = Get-FileBytes $path
            $err = { New-WandbLaunchAgentConfig -Path $path -Queue other } | Should -Throw -ErrorId "AgentConfigExists,$NewCmd" -PassThru
            $err.CategoryInfo.Category | Should -Be 'ResourceExists'
            $err.TargetObject | Should -BeExactly $path
            Get-FileBytes $path | Should -BeExactly $bytes
        }

        It 'replaces an existing file with -Force' {
            $path = New-ConfigFile
            New-WandbLaunchAgentConfig -Path $path -Queue other -Force | Out-Null
            (Get-WandbLaunchAgentConfig $path).Queues | Should -Be @('other')
            (Get-WandbLaunchAgentConfig $path).Builder.Type | Should -BeNullOrEmpty
        }

        It 'writes nothing with -WhatIf' {
            $dir = New-TestDirectory
            New-WandbLaunchAgentConfig -Path "$dir/sub/launch-config.yaml" -Queue a -WhatIf | Should -BeNullOrEmpty
            Test-Path "$dir/sub" | Should -BeFalse
            $existing = New-ConfigFile
            $bytes = Get-FileBytes $existing
            New-WandbLaunchAgentConfig -Path $existing -Queue a -Force -WhatIf
            Get-FileBytes $existing | Should -BeExactly $bytes
        }

        It 'refuses an invalid config (<ErrorId>) and writes nothing' -TestCases @(
            @{ ErrorId = 'InvalidMaxJobs'; Params = @{ MaxJobs = 0 } }
            @{ ErrorId = 'InvalidMaxJobs'; Params = @{ MaxJobs = -2 } }
            @{ ErrorId = 'InvalidVerbosity'; Params = @{ Verbosity = 3 } }
            @{ ErrorId = 'MissingBuildContextStore'; Params = @{ BuilderType = 'kaniko' } }
            @{ ErrorId = 'InvalidBuildContextStore'; Params = @{ BuilderType = 'kaniko'; BuildContextStore = 'ftp://host/ctx' } }
            @{ ErrorId = 'InvalidDestination'; Params = @{ Destination = 'registry.example.com/images:v1' } }
            @{ ErrorId = 'SecretNameKeyMismatch'; Params = @{ SecretName = 'regcred' } }
            @{ ErrorId = 'MissingEnvironmentRegion'; Params = @{ EnvironmentType = 'aws' } }
            @{ ErrorId = 'InvalidQueues'; Params = @{ Queue = 'gpu*' } }
            @{ ErrorId = 'UnknownAgentConfigKey'; Params = @{ Setting = @{ colour = 'blue' } } }
        ) {
            $path = Join-Path (New-TestDirectory) 'launch-config.yaml'
            { New-WandbLaunchAgentConfig -Path $path @Params } | Should -Throw -ErrorId "$ErrorId,$NewCmd"
            Test-Path $path | Should -BeFalse
        }
    }

    Context 'Set-WandbLaunchAgentConfig' {
        It 'changes only the given key and keeps every other one, including nested keys it does not know' {
            $path = New-ConfigFile
            $before = Get-ConfigJson $path | ConvertFrom-Json -AsHashtable
            Set-WandbLaunchAgentConfig -Path $path -MaxJobs 4
            $after = Get-ConfigJson $path | ConvertFrom-Json -AsHashtable
            $after.max_jobs | Should -Be 4
            $before.max_jobs = 4
            $after | ConvertTo-Json -Depth 20 -Compress | Should -BeExactly ($before | ConvertTo-Json -Depth 20 -Compress)
            $after.builder.'kaniko-config'.spec.template.spec.tolerations[0].effect | Should -BeExactly 'NoSchedule'
            $after.builder.'kaniko-config'.metadata.annotations.'karpenter.sh/do-not-disrupt' | Should -BeExactly 'true'
        }

        It 'keeps comments, blank lines and the formatting of every key it does not change' {
            $path = New-ConfigFile -Text ($script:RealisticYaml.Replace('max_jobs: -1', 'max_jobs: -1   # unlimited'))
            Set-WandbLaunchAgentConfig -Path $path -MaxJobs 4 -Region eu-west-1 -Setting ([ordered]@{ 'builder.platform' = 'linux/amd64'; 'builder.secret-name' = $null; 'builder.secret-key' = $null })
            $expected = $script:RealisticYaml.
                Replace('max_jobs: -1', 'max_jobs: 4   # unlimited').
                Replace('region: us-east-1', 'region: eu-west-1').
                Replace("  secret-name: regcred`n  secret-key: .dockerconfigjson`n", '').
                Replace("              effect: NoSchedule`n", "              effect: NoSchedule`n  platform: linux/amd64`n")
            Get-Content -Raw $path | Should -BeExactly $expected
        }

        It 'keeps every other key as PyYAML (W&B''s agent) reads them' -Skip:$script:PyYamlMissing {
            $path = New-ConfigFile
            $before = Read-WithPyYaml $path | ConvertFrom-Json -AsHashtable
            Set-WandbLaunchAgentConfig -Path $path -Queue gpu-queue -Region eu-west-1
            $after = Read-WithPyYaml $path | ConvertFrom-Json -AsHashtable
            $before.queues = @('gpu-queue')
            $before.environment.region = 'eu-west-1'
            $after | ConvertTo-Json -Depth 20 -Compress | Should -BeExactly ($before | ConvertTo-Json -Depth 20 -Compress)
        }

        It 'sets nested keys with dotted -Setting keys and removes keys set to $null' {
            $path = New-ConfigFile
            $config = Set-WandbLaunchAgentConfig -Path $path -PassThru -Setting ([ordered]@{
                    'builder.kaniko-config.spec.backoffLimit' = 2
                    'environment.project'                     = 'ml-platform'
                    'builder.secret-name'                     = $null
                    'builder.secret-key'                      = $null
                    'entity'                                  = $null
                    'builder.platform'                        = $null   # not there: nothing to remove
                })
            $doc = Get-ConfigJson $path | ConvertFrom-Json -AsHashtable
            $doc.builder.'kaniko-config'.spec.backoffLimit | Should -Be 2
            $doc.builder.'kaniko-config'.spec.template.spec.nodeSelector.'node.kubernetes.io/instance-type' | Should -BeExactly 'm5.xlarge'
            $doc.environment.project | Should -BeExactly 'ml-platform'
            $doc.builder.Keys | Should -Not -Contain 'secret-name'
            $doc.builder.Keys | Should -Not -Contain 'secret-key'
            $doc.builder.Keys | Should -Not -Contain 'platform'
            $doc.Keys | Should -Not -Contain 'entity'
            $config.Entity | Should -BeNullOrEmpty
            $config.Builder.SecretName | Should -BeNullOrEmpty
            $config.Environment.Project | Should -BeExactly 'ml-platform'
        }

        It 'writes nothing to the pipeline without -PassThru' {
            Set-WandbLaunchAgentConfig -Path (New-ConfigFile) -Verbosity 2 | Should -BeNullOrEmpty
        }

        It 'refuses an invalid change (<ErrorId>) and leaves the file byte-identical' -TestCases @(
            @{ ErrorId = 'InvalidMaxJobs'; Params = @{ MaxJobs = 0 } }
            @{ ErrorId = 'InvalidMaxJobs'; Params = @{ Setting = @{ max_jobs = 'many' } } }
            @{ ErrorId = 'SecretNameKeyMismatch'; Params = @{ Setting = @{ 'builder.secret-key' = $null } } }
            @{ ErrorId = 'MissingBuildContextStore'; Params = @{ Setting = @{ 'builder.build-context-store' = $null } } }
            @{ ErrorId = 'InvalidDestination'; Params = @{ Destination = '123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images:latest' } }
            @{ ErrorId = 'UnknownAgentConfigKey'; Params = @{ Setting = @{ colour = 'blue' } } }
            @{ ErrorId = 'MissingEnvironmentRegion'; Params = @{ Setting = @{ 'environment.region' = $null } } }
            @{ ErrorId = 'InvalidKanikoConfig'; Params = @{ Setting = @{ 'builder.kaniko-config' = 'not a mapping' } } }
        ) {
            $path = New-ConfigFile
            $bytes = Get-FileBytes $path
            { Set-WandbLaunchAgentConfig -Path $path @Params } | Should -Throw -ErrorId "$ErrorId,$SetCmd"
            Get-FileBytes $path | Should -BeExactly $bytes
            Get-ChildItem (Split-Path $path) | ForEach-Object Name | Should -Be @('launch-config.yaml') -Because 'no temporary file may be left behind'
        }

        It 'refuses to change a file that is already invalid, naming its problem, and leaves it byte-identical' {
            $path = New-ConfigFile -Text "queues: [a]`nmax-jobs: 2`n"
            $bytes = Get-FileBytes $path
            $err = { Set-WandbLaunchAgentConfig -Path $path -Verbosity 1 } | Should -Throw -ErrorId "UnknownAgentConfigKey,$SetCmd" -PassThru
            $err.Exception.Message | Should -BeLike "${path}:2:1: Unknown key 'max-jobs' (did you mean 'max_jobs'?)*"
            Get-FileBytes $path | Should -BeExactly $bytes
        }

        It 'names the real line of a problem in a commented file, and no line for a problem in the change' {
            $path = New-ConfigFile -Text ($script:RealisticYaml + "`ncolour: blue`n")
            $line = (Get-Content $path).IndexOf('colour: blue') + 1
            $err = { Set-WandbLaunchAgentConfig -Path $path -Verbosity 1 } | Should -Throw -ErrorId "UnknownAgentConfigKey,$SetCmd" -PassThru
            $err.Exception.Message | Should -BeLike "${path}:${line}:1: Unknown key 'colour'*"

            $err = { Set-WandbLaunchAgentConfig -Path (New-ConfigFile) -MaxJobs 0 } | Should -Throw -ErrorId "InvalidMaxJobs,$SetCmd" -PassThru
            $err.Exception.Message | Should -BeLike 'max_jobs is 0*' -Because 'the new value is on no line of the file yet'
        }

        It 'leaves the file byte-identical with -WhatIf' {
            $path = New-ConfigFile
            $bytes = Get-FileBytes $path
            Set-WandbLaunchAgentConfig -Path $path -MaxJobs 9 -WhatIf
            Get-FileBytes $path | Should -BeExactly $bytes
        }

        It 'refuses a missing explicit -Path (AgentConfigNotFound) and creates nothing' {
            $path = Join-Path (New-TestDirectory) 'missing.yaml'
            { Set-WandbLaunchAgentConfig -Path $path -MaxJobs 2 } | Should -Throw -ErrorId "AgentConfigNotFound,$SetCmd"
            Test-Path $path | Should -BeFalse
        }

        It 'creates the default file when it does not exist yet' {
            $env:HOME = New-TestDirectory
            Set-WandbLaunchAgentConfig -Queue a
            (Get-WandbLaunchAgentConfig -Path (Join-Path $env:HOME '.config/wandb/launch-config.yaml')).Queues | Should -Be @('a')
        }
    }

    Context 'Get-WandbLaunchAgentConfig' {
        It 'reads a realistic W&B launch-config.yaml' {
            $path = New-ConfigFile
            $config = Get-WandbLaunchAgentConfig -Path $path -WarningVariable warnings
            $warnings | Should -BeNullOrEmpty
            $config.Path | Should -BeExactly $path
            $config.Queues | Should -Be @('gpu-queue', 'cpu-queue')
            $config.Entity | Should -BeExactly 'my-team'
            $config.MaxJobs | Should -Be -1
            $config.MaxSchedulers | Should -Be 2
            $config.SecureMode | Should -BeFalse
            $config.Verbosity | Should -Be 0
            $config.StoppedRunTimeout | Should -Be 60
            $config.Builder.Type | Should -BeExactly 'kaniko'
            $config.Builder.Destination | Should -BeExactly '123456789012.dkr.ecr.us-east-1.amazonaws.com/launch-images'
            $config.Builder.BuildContextStore | Should -BeExactly 's3://my-launch-bucket/build-context'
            $config.Builder.SecretName | Should -BeExactly 'regcred'
            $config.Builder.SecretKey | Should -BeExactly '.dockerconfigjson'
            $config.Builder.KanikoConfig['spec']['template']['spec']['nodeSelector']['node.kubernetes.io/instance-type'] | Should -BeExactly 'm5.xlarge'
            $config.Environment.Type | Should -BeExactly 'aws'
            $config.Environment.Region | Should -BeExactly 'us-east-1'
            $config.Sources | Should -BeNullOrEmpty
        }

        It 'shows the config as a list with the main keys' {
            $text = Get-WandbLaunchAgentConfig -Path (New-ConfigFile) | Out-String -Width 250
            $text | Should -Match 'Queues\s+: gpu-queue, cpu-queue'
            $text | Should -Match 'MaxJobs\s+: unlimited'
            $text | Should -Match 'Builder\s+: type=kaniko; destination=123456789012\.dkr\.ecr'
            $text | Should -Match 'Environment\s+: aws \(us-east-1\)'
        }

        It 'strips https:// from builder.destination' {
            $config = Get-WandbLaunchAgentConfig -Path (New-ConfigFile -Text "builder:`n  type: docker`n  destination: https://registry.example.com/team/images`n")
            $config.Builder.Destination | Should -BeExactly 'registry.example.com/team/images'
        }

        It 'adds a string queue key to queues' {
            $config = Get-WandbLaunchAgentConfig -Path (New-ConfigFile -Text "queue: single`nqueues: [a, b]`n")
            $config.Queues | Should -Be @('a', 'b', 'single')
        }

        It 'reads an empty file as W&B''s defaults' {
            $config = Get-WandbLaunchAgentConfig -Path (New-ConfigFile -Text '')
            $config.Queues | Should -BeNullOrEmpty
            $config.MaxJobs | Should -Be 1
            $config.MaxSchedulers | Should -Be 1
            $config.Builder.Type | Should -BeNullOrEmpty
        }

        It 'reads a missing default file as the defaults' {
            $env:HOME = New-TestDirectory
            (Get-WandbLaunchAgentConfig).MaxJobs | Should -Be 1
        }

        It 'warns about the deprecated registry block, naming the file and line' {
            $path = New-ConfigFile -Text "queues: [a]`nregistry:`n  type: ecr`n  uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/images`n"
            $config = Get-WandbLaunchAgentConfig -Path $path -WarningVariable warnings -WarningAction SilentlyContinue
            $warnings.Count | Should -Be 1
            "$($warnings[0])" | Should -BeLike "${path}:2:1: The registry block is deprecated*builder.destination*"
            $config.Registry.Type | Should -BeExactly 'ecr'
            $config.Registry.Uri | Should -BeExactly '123456789012.dkr.ecr.us-east-1.amazonaws.com/images'
        }

        It 'refuses invalid YAML (InvalidAgentConfigYaml), naming file, line and column: <Case>' -TestCases @(
            @{ Case = 'bad indentation'; Text = "queues:`n  - a`n max_jobs: 2`n"; Where = '3:2' }
            @{ Case = 'unclosed flow list'; Text = "queues: [gpu, cpu`nmax_jobs: 2`n"; Where = '2:1' }
            @{ Case = 'duplicate key'; Text = "queues: [a]`nmax_jobs: 1`nmax_jobs: 2`n"; Where = '3:1' }
        ) {
            $path = New-ConfigFile -Text $Text
            $err = { Get-WandbLaunchAgentConfig -Path $path } | Should -Throw -ErrorId "InvalidAgentConfigYaml,$GetCmd" -PassThru
            $err.Exception.Message | Should -BeLike "Invalid YAML at ${path}:${Where}:*"
            $err.CategoryInfo.Category | Should -Be 'InvalidData'
        }

        It 'refuses a wrongly typed value (<ErrorId>), naming file, line and column' -TestCases @(
            @{ ErrorId = 'InvalidMaxJobs'; Text = "queues: [a]`nmax_jobs: many`n"; Where = '2:1' }
            @{ ErrorId = 'InvalidMaxJobs'; Text = "queues: [a]`nmax_jobs: -2`n"; Where = '2:1' }
            @{ ErrorId = 'InvalidMaxJobs'; Text = "queues: [a]`nmax_jobs: 1.5`n"; Where = '2:1' }
            @{ ErrorId = 'InvalidVerbosity'; Text = "queues: [a]`nverbosity: 7`n"; Where = '2:1' }
            @{ ErrorId = 'InvalidSecureMode'; Text = "queues: [a]`nsecure_mode: 'yes'`n"; Where = '2:1' }
            @{ ErrorId = 'InvalidQueues'; Text = "queues: gpu-queue`n"; Where = '1:1' }
            @{ ErrorId = 'InvalidQueues'; Text = "queues:`n  - gpu`n  - 5`n"; Where = '3:5' }
            @{ ErrorId = 'InvalidBuilderType'; Text = "builder:`n  type: podman`n"; Where = '2:3' }
            @{ ErrorId = 'InvalidBuilder'; Text = "builder: docker`n"; Where = '1:1' }
            @{ ErrorId = 'InvalidEnvironmentType'; Text = "environment:`n  type: openstack`n"; Where = '2:3' }
        ) {
            $path = New-ConfigFile -Text $Text
            $err = { Get-WandbLaunchAgentConfig -Path $path } | Should -Throw -ErrorId "$ErrorId,$GetCmd" -PassThru
            $err.Exception.Message | Should -BeLike "${path}:${Where}: *"
        }

        It 'refuses unknown top-level keys (UnknownAgentConfigKey), listing the valid keys' {
            $path = New-ConfigFile -Text "queues: [a]`ncolour: blue`n"
            $err = { Get-WandbLaunchAgentConfig -Path $path } | Should -Throw -ErrorId "UnknownAgentConfigKey,$GetCmd" -PassThru
            $err.Exception.Message | Should -BeLike "${path}:2:1: Unknown key 'colour'*"
            foreach ($key in 'queues', 'entity', 'max_jobs', 'max_schedulers', 'secure_mode', 'verbosity', 'stopped_run_timeout', 'builder', 'registry', 'environment') {
                $err.Exception.Message | Should -BeLike "*Valid keys:*$key*"
            }
        }

        It 'reports every problem of a file in one error' {
            $path = New-ConfigFile -Text "queues: [a]`nmax_jobs: many`ncolour: blue`nverbosity: 7`n"
            $err = { Get-WandbLaunchAgentConfig -Path $path } | Should -Throw -PassThru
            $err.Exception.Message | Should -BeLike '*colour*max_jobs*verbosity*'
        }

        It 'refuses a missing explicit file (AgentConfigNotFound)' {
            $path = Join-Path (New-TestDirectory) 'missing.yaml'
            $err = { Get-WandbLaunchAgentConfig -Path $path } | Should -Throw -ErrorId "AgentConfigNotFound,$GetCmd" -PassThru
            $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $err.TargetObject | Should -BeExactly $path
        }
    }

    Context 'Get-WandbLaunchAgentConfig -Effective' {
        BeforeEach {
            $script:path = New-ConfigFile -Text "queues: [file-queue]`nentity: file-team`nmax_jobs: 2`nbuilder:`n  type: noop`n"
        }

        It 'takes the file over the built-in defaults' {
            $config = Get-WandbLaunchAgentConfig -Path $path -Effective
            $config.Queues | Should -Be @('file-queue')
            $config.Entity | Should -BeExactly 'file-team'
            $config.MaxJobs | Should -Be 2
            $config.MaxSchedulers | Should -Be 1
            $config.Sources['queues'] | Should -BeExactly 'file'
            $config.Sources['entity'] | Should -BeExactly 'file'
            $config.Sources['max_jobs'] | Should -BeExactly 'file'
            $config.Sources['builder'] | Should -BeExactly 'file'
            $config.Sources['max_schedulers'] | Should -BeExactly 'default'
            $config.Sources['verbosity'] | Should -BeExactly 'default'
        }

        It 'takes WANDB_ENTITY and WANDB_LAUNCH_MAX_JOBS over the file' {
            $env:WANDB_ENTITY = 'env-team'
            $env:WANDB_LAUNCH_MAX_JOBS = '5'
            $config = Get-WandbLaunchAgentConfig -Path $path -Effective
            $config.Entity | Should -BeExactly 'env-team'
            $config.MaxJobs | Should -Be 5
            $config.Queues | Should -Be @('file-queue')
            $config.Sources['entity'] | Should -BeExactly 'environment'
            $config.Sources['max_jobs'] | Should -BeExactly 'environment'
            $config.Sources['queues'] | Should -BeExactly 'file'
        }

        It 'takes parameters over the environment' {
            $env:WANDB_ENTITY = 'env-team'
            $env:WANDB_LAUNCH_MAX_JOBS = '5'
            $config = Get-WandbLaunchAgentConfig -Path $path -Effective -Queue q1, q2 -Entity param-team -MaxJobs -1
            $config.Queues | Should -Be @('q1', 'q2')
            $config.Entity | Should -BeExactly 'param-team'
            $config.MaxJobs | Should -Be -1
            foreach ($key in 'queues', 'entity', 'max_jobs') { $config.Sources[$key] | Should -BeExactly 'parameter' }
            $config.Sources['builder'] | Should -BeExactly 'file'
        }

        It 'accepts WANDB_LAUNCH_MAX_JOBS=-1 (unlimited)' {
            $env:WANDB_LAUNCH_MAX_JOBS = '-1'
            (Get-WandbLaunchAgentConfig -Path $path -Effective).MaxJobs | Should -Be -1
        }

        It 'refuses WANDB_LAUNCH_MAX_JOBS=<Value> (InvalidMaxJobs)' -TestCases @(
            @{ Value = 'many' }, @{ Value = '0' }, @{ Value = '-3' }
        ) {
            $env:WANDB_LAUNCH_MAX_JOBS = $Value
            $err = { Get-WandbLaunchAgentConfig -Path $path -Effective } | Should -Throw -ErrorId "InvalidMaxJobs,$GetCmd" -PassThru
            $err.Exception.Message | Should -BeLike '*WANDB_LAUNCH_MAX_JOBS*'
        }

        It 'refuses -MaxJobs 0 as the file would' {
            { Get-WandbLaunchAgentConfig -Path $path -Effective -MaxJobs 0 } | Should -Throw -ErrorId "InvalidMaxJobs,$GetCmd"
        }

        It 'uses the defaults and the environment when there is no default file' {
            $env:HOME = New-TestDirectory
            $env:WANDB_ENTITY = 'env-team'
            $config = Get-WandbLaunchAgentConfig -Effective
            $config.Entity | Should -BeExactly 'env-team'
            $config.MaxJobs | Should -Be 1
            $config.Sources['max_jobs'] | Should -BeExactly 'default'
        }

        It 'shows Sources in the list view' {
            $env:WANDB_ENTITY = 'env-team'
            Get-WandbLaunchAgentConfig -Path $path -Effective | Out-String -Width 250 | Should -Match 'Sources\s+: .*entity=environment.*queues=file'
        }
    }

    Context 'Test-WandbLaunchAgentConfig' {
        It 'returns $true for a valid file and writes nothing else' {
            $result = Test-WandbLaunchAgentConfig -Path (New-ConfigFile) -ErrorVariable errs -WarningVariable warns
            $result | Should -BeExactly $true
            $errs | Should -BeNullOrEmpty
            $warns | Should -BeNullOrEmpty
        }

        It 'returns $false and writes one error per problem, each with its id and key' {
            $path = New-ConfigFile -Text "queues: [a]`nmax_jobs: many`ncolour: blue`nverbosity: 7`n"
            $result = Test-WandbLaunchAgentConfig -Path $path -ErrorVariable errs -ErrorAction SilentlyContinue
            $result | Should -BeExactly $false
            $errs.Count | Should -Be 3
            $errs.FullyQualifiedErrorId | Sort-Object | Should -Be @(
                "InvalidMaxJobs,$TestCmd", "InvalidVerbosity,$TestCmd", "UnknownAgentConfigKey,$TestCmd")
            ($errs | Where-Object FullyQualifiedErrorId -Like 'InvalidMaxJobs,*').TargetObject | Should -BeExactly 'max_jobs'
            ($errs | Where-Object FullyQualifiedErrorId -Like 'InvalidVerbosity,*').Exception.Message | Should -BeLike "${path}:4:1:*"
        }

        It 'writes no errors or warnings with -Quiet' {
            $path = New-ConfigFile -Text "queues: [a]`nmax_jobs: many`nregistry:`n  type: ecr`n"
            $result = Test-WandbLaunchAgentConfig -Path $path -Quiet -ErrorVariable errs -WarningVariable warns
            $result | Should -BeExactly $false
            $errs | Should -BeNullOrEmpty
            $warns | Should -BeNullOrEmpty
        }

        It 'returns $true with a warning for a deprecated but valid config' {
            $path = New-ConfigFile -Text "queues: [a]`nregistry:`n  type: ecr`n  uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/images`n"
            Test-WandbLaunchAgentConfig -Path $path -WarningVariable warns -WarningAction SilentlyContinue | Should -BeExactly $true
            $warns.Count | Should -Be 1
        }

        It 'checks -Content text' {
            Test-WandbLaunchAgentConfig -Content "queues: [a]`nmax_jobs: 2" | Should -BeExactly $true
            Test-WandbLaunchAgentConfig -Content '{"queues": ["a"], "max_jobs": -1}' | Should -BeExactly $true
            Test-WandbLaunchAgentConfig -Content '' | Should -BeExactly $true
            $result = Test-WandbLaunchAgentConfig -Content "queues: [a]`nmax_jobs: -5" -ErrorVariable errs -ErrorAction SilentlyContinue
            $result | Should -BeExactly $false
            $errs.FullyQualifiedErrorId | Should -Be @("InvalidMaxJobs,$TestCmd")
            "$($errs[0])" | Should -BeLike 'line 2, column 1: max_jobs is -5*'
        }

        It 'returns $false with InvalidAgentConfigYaml for -Content that is not YAML' {
            $result = Test-WandbLaunchAgentConfig -Content "queues:`n  - a`n max_jobs: 2" -ErrorVariable errs -ErrorAction SilentlyContinue
            $result | Should -BeExactly $false
            $errs.FullyQualifiedErrorId | Should -Be @("InvalidAgentConfigYaml,$TestCmd")
        }

        It 'returns $false with AgentConfigNotFound for a missing file' {
            $result = Test-WandbLaunchAgentConfig -Path (Join-Path (New-TestDirectory) 'missing.yaml') -ErrorVariable errs -ErrorAction SilentlyContinue
            $result | Should -BeExactly $false
            $errs.FullyQualifiedErrorId | Should -Be @("AgentConfigNotFound,$TestCmd")
        }

        It 'tests every file piped from Get-ChildItem' {
            $dir = New-TestDirectory
            Set-Content "$dir/a-good.yaml" "queues: [a]"
            Set-Content "$dir/b-bad.yaml" "queues: [a]`nmax_jobs: 0"
            Set-Content "$dir/c-good.yaml" "max_jobs: -1"
            $results = Get-ChildItem $dir -Filter *.yaml | Sort-Object Name | Test-WandbLaunchAgentConfig -ErrorAction SilentlyContinue
            $results | Should -Be @($true, $false, $true)
        }
    }
}
