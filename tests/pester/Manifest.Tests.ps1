# Get-WandbLaunchJobManifest: what an agent would run, rendered without running or contacting anything.
BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force
    New-TestStore | Out-Null
    $script:code = New-TestDirectory
    Set-Content (Join-Path $code 'train.py') 'print("hi")'
    New-WandbLaunchQueue -Name proc -Resource local-process -Configuration @{ env = @{ OMP_NUM_THREADS = '4' } } | Out-Null
    New-WandbLaunchQueue -Name box -Resource local-container -Configuration @{ memory = '1g' } | Out-Null
    $kubeConfig = @{
        metadata = @{ namespace = 'ml' }
        spec     = @{ template = @{ spec = @{ containers = @(@{ resources = @{ limits = @{ 'nvidia.com/gpu' = '{{gpus}}' } } }) } } }
    }
    New-WandbLaunchQueue -Name k8s -Resource kubernetes -Configuration $kubeConfig `
        -TemplateVariable @{ gpus = @{ type = 'integer'; minimum = 1; maximum = 8; default = 1 } } | Out-Null
}

AfterAll {
    $env:WANDB_API_KEY = $null
}

Describe 'Get-WandbLaunchJobManifest' {
    BeforeEach { $env:WANDB_API_KEY = 'wbl-secret-api-key-1234' }
    AfterEach { $env:WANDB_API_KEY = $null }

    It 'shows the command line and environment of a local-process job, with the API key redacted' {
        $rendered = Get-WandbLaunchJobManifest -Queue proc -Uri $code -EntryPoint python3, train.py -Arguments --epochs, 3 -RunConfig @{ lr = 0.1 }
        $rendered.Resource | Should -Be 'local-process'
        $rendered.Summary | Should -Be 'python3 train.py --epochs 3'
        $rendered.Text | Should -Match 'OMP_NUM_THREADS=4'
        $rendered.Text | Should -Match 'WANDB_CONFIG=\{"lr":0.1\}'
        $rendered.Text | Should -Match 'WANDB_API_KEY=\*\*\*'
        $rendered.Text | Should -Not -Match 'wbl-secret-api-key-1234'
        ($rendered | Out-String) | Should -Match '# local-process: python3 train.py'
    }

    It 'names the image the docker builder would build for code in a local directory' {
        $rendered = Get-WandbLaunchJobManifest -Queue box -Uri $code -EntryPoint python3, train.py
        $rendered.Text | Should -Match 'image: wandb-launch/model-registry-[a-z0-9-]+:[0-9a-f]{8}'
        $again = Get-WandbLaunchJobManifest -Queue box -Uri $code -EntryPoint python3, train.py
        ($again.Text -split "`n")[0] | Should -Be ($rendered.Text -split "`n")[0] -Because 'unchanged code gets the same tag'
    }

    It 'renders the Kubernetes Secret and Job as YAML, with templates applied and the key redacted' {
        $rendered = Get-WandbLaunchJobManifest -Queue k8s -DockerImage registry.example.com/team/train:1 -TemplateVariable @{ gpus = 2 }
        $rendered.Resource | Should -Be 'kubernetes'
        $yaml = $rendered.Text
        $yaml | Should -Match 'kind: Secret'
        $yaml | Should -Match 'kind: Job'
        $yaml | Should -Match 'namespace: ml'
        $yaml | Should -Match 'nvidia.com/gpu: 2'
        $yaml | Should -Match 'image: registry.example.com/team/train:1'
        $yaml | Should -Match 'wandb.ai/monitor: "true"'
        $yaml | Should -Match 'allowPrivilegeEscalation: false'
        $yaml | Should -Match "password: ['`"]?\*\*\*"
        $yaml | Should -Not -Match 'wbl-secret-api-key-1234'
    }

    It 'shows the kaniko Docker config Secret and build Job before the run''s Job when the agent builds with kaniko' {
        $config = Join-Path (New-TestDirectory) 'launch-config.yaml'
        New-WandbLaunchAgentConfig -Path $config -BuilderType kaniko -Destination registry.example.com/team/images `
            -Setting @{ 'builder.build-context-store' = 's3://ctx-bucket/builds'; 'builder.secret-name' = 'regcred'; 'builder.secret-key' = '.dockerconfigjson' } | Out-Null
        $rendered = Get-WandbLaunchJobManifest -Queue k8s -Uri $code -EntryPoint python3, train.py -ConfigPath $config
        $documents = $rendered.Text -split '(?m)^---$'
        $documents.Count | Should -Be 4 -Because 'Docker config Secret and build Job, then the run''s Secret and Job'
        $documents[0] | Should -Match 'kind: Secret'
        $documents[0] | Should -Match 'name: docker-config-wandb-launch-container-build-'
        $documents[0] | Should -Match "the agent's login to registry.example.com"
        $documents[1] | Should -Match 'name: wandb-container-build'
        $documents[1] | Should -Match 'namespace: wandb' -Because 'outside a pod, kaniko builds in namespace wandb, as W&B''s builder'
        $documents[1] | Should -Match '--context=s3://ctx-bucket/builds/[a-z0-9]+\.tgz'
        $image = [regex]::Match($documents[1], '--destination=(\S+)').Groups[1].Value
        $image | Should -Match '^registry.example.com/team/images:[0-9a-f]{8}$'
        $documents[3] | Should -Match "image: $([regex]::Escape($image))" -Because 'the run uses the image kaniko pushes'
        $rendered.Summary | Should -BeLike "kaniko build Job wandb/wandb-launch-container-build-* (pushes $image), then Job ml/*"
        $rendered.Text | Should -Not -Match 'wbl-secret-api-key-1234'
    }

    It 'refuses a forbidden manifest field with its path (ForbiddenManifestField), and stores nothing' {
        $before = @(Get-WandbLaunchJob).Count
        $bad = @{ kubernetes = @{ spec = @{ template = @{ spec = @{ hostNetwork = $true } } } } }
        { Get-WandbLaunchJobManifest -Queue k8s -DockerImage img:1 -ResourceArgs $bad -ErrorAction Stop } |
            Should -Throw -ErrorId 'ForbiddenManifestField,WandbLaunch.Jobs.GetWandbLaunchJobManifestCommand' -ExpectedMessage '*spec.template.spec.hostNetwork*'
        { Submit-WandbLaunchJob -Queue k8s -DockerImage img:1 -ResourceArgs $bad -ErrorAction Stop } |
            Should -Throw -ErrorId 'ForbiddenManifestField,WandbLaunch.Jobs.SubmitWandbLaunchJobCommand'
        @(Get-WandbLaunchJob).Count | Should -Be $before
    }

    It 'shows a spec''s additional services before the Job and refuses a kind off the allow-list before queueing (kubernetes_runner.py additional_services)' {
        $db = @{
            apiVersion = 'apps/v1'; kind = 'Deployment'; metadata = @{ name = 'db-${run_id}' }
            spec       = @{ selector = @{ matchLabels = @{ app = 'db' } }; template = @{ metadata = @{ labels = @{ app = 'db' } }; spec = @{ containers = @(@{ name = 'pg'; image = 'postgres:16' }) } } }
        }
        $spec = @{ docker = @{ docker_image = 'registry.example.com/team/train:1' }; run_id = 'svcrun01'; additional_services = @(@{ config = $db }) }
        $yaml = (Get-WandbLaunchJobManifest -Queue k8s -Spec $spec).Text
        $yaml | Should -Match 'name: db-svcrun01'
        $yaml | Should -Match 'wandb.ai/auxiliary-resource: aux-'
        $yaml.IndexOf('kind: Deployment') | Should -BeLessThan $yaml.IndexOf('kind: Job')
        $yaml | Should -Not -Match 'wbl-secret-api-key-1234'

        $before = @(Get-WandbLaunchJob).Count
        $binding = @{ apiVersion = 'rbac.authorization.k8s.io/v1'; kind = 'ClusterRoleBinding'; metadata = @{ name = 'me-admin' } }
        $bad = @{ docker = @{ docker_image = 'img:1' }; additional_services = @(@{ config = $binding }) }
        { Submit-WandbLaunchJob -Queue k8s -Spec $bad -ErrorAction Stop } |
            Should -Throw -ErrorId 'AdditionalServiceKindNotAllowed,WandbLaunch.Jobs.SubmitWandbLaunchJobCommand' -ExpectedMessage '*additional_services`[0`].config is a rbac.authorization.k8s.io/v1 ClusterRoleBinding*allowed: apps/v1 Deployment*'
        @(Get-WandbLaunchJob).Count | Should -Be $before
    }

    It 'refuses a job the queue''s runner could never run (JobCannotRun)' {
        { Get-WandbLaunchJobManifest -Queue proc -DockerImage img:1 -ErrorAction Stop } |
            Should -Throw -ErrorId 'JobCannotRun,WandbLaunch.Jobs.GetWandbLaunchJobManifestCommand' -ExpectedMessage '*local-container*'
    }

    It 'is what Submit-WandbLaunchJob -WhatIf prints, and -WhatIf stores nothing' {
        $before = @(Get-WandbLaunchJob).Count
        $out = & (Get-PwshCommand) -NoProfile -NonInteractive -Command "
            `$env:WANDB_LAUNCH_DB = '$env:WANDB_LAUNCH_DB'
            Import-Module '$ModulePath'
            Submit-WandbLaunchJob -Queue proc -Uri '$code' -EntryPoint python3, train.py -WhatIf" 2>&1
        ($out -join "`n") | Should -Match 'What an agent would run \(local-process\): python3 train.py'
        @(Get-WandbLaunchJob).Count | Should -Be $before
    }

    It 'prints the same under $WhatIfPreference, and -WhatIf:$false submits' {
        $out = & (Get-PwshCommand) -NoProfile -NonInteractive -Command "
            `$env:WANDB_LAUNCH_DB = '$env:WANDB_LAUNCH_DB'
            Import-Module '$ModulePath'
            `$WhatIfPreference = `$true
            Submit-WandbLaunchJob -Queue proc -Uri '$code' -EntryPoint python3, train.py
            `$WhatIfPreference = `$false
            (Submit-WandbLaunchJob -Queue proc -Uri '$code' -EntryPoint python3, train.py -WhatIf:`$false).Id" 2>&1
        $text = $out -join "`n"
        $text | Should -Match 'What an agent would run \(local-process\): python3 train.py'
        $id = ($out | Select-Object -Last 1).ToString()
        $id | Should -Match '^item-'
        (Get-WandbLaunchJob -Id $id).State | Should -Be 'Pending'
        Stop-WandbLaunchJob -Id $id | Out-Null
    }
}

Describe 'Get-WandbLaunchJobManifest on a sagemaker queue' {
    BeforeAll {
        New-WandbLaunchQueue -Name sm -Resource sagemaker -Configuration @{
            RoleArn           = 'SageMakerExecutionRole'
            OutputDataConfig  = @{ S3OutputPath = 's3://ml-bucket/launch-output' }
            resource_config   = @{ InstanceType = 'ml.m5.xlarge'; InstanceCount = 1; VolumeSizeInGB = 30 }
            StoppingCondition = @{ MaxRuntimeInSeconds = 3600 }
        } | Out-Null
        New-WandbLaunchQueue -Name sm-norole -Resource sagemaker -Configuration @{
            OutputDataConfig = @{ S3OutputPath = 's3://ml-bucket/out' }; ResourceConfig = @{ InstanceCount = 1 }; StoppingCondition = @{ MaxRuntimeInSeconds = 60 }
        } | Out-Null
    }
    BeforeEach { $env:WANDB_API_KEY = 'wbl-secret-api-key-1234'; $env:AWS_REGION = 'eu-west-1' }
    AfterEach { $env:WANDB_API_KEY = $null; $env:AWS_REGION = $null }

    It 'shows the CreateTrainingJob request W&B would send, with the API key as ***' {
        $rendered = Get-WandbLaunchJobManifest -Queue sm -DockerImage 123456789012.dkr.ecr.eu-west-1.amazonaws.com/launch:1 -EntryPoint python, train.py
        $rendered.Resource | Should -Be 'sagemaker'
        $rendered.Summary | Should -Match '^SageMaker CreateTrainingJob [a-z0-9]{8} in eu-west-1$'
        $request = $rendered.Text | ConvertFrom-Json
        $request.RoleArn | Should -Be 'arn:aws:iam::<account>:role/SageMakerExecutionRole'
        $request.ResourceConfig.InstanceType | Should -Be 'ml.m5.xlarge'
        $request.AlgorithmSpecification.TrainingImage | Should -Be '123456789012.dkr.ecr.eu-west-1.amazonaws.com/launch:1'
        $request.AlgorithmSpecification.ContainerEntrypoint | Should -Be @('python', 'train.py')
        $request.Environment.WANDB_API_KEY | Should -Be '***'
        $request.Tags[-1].Key | Should -Be 'WandbRunId'
        $rendered.Text | Should -Not -Match 'wbl-secret-api-key-1234'
    }

    It 'refuses a queue config SageMaker would refuse, and Submit queues nothing (MissingSageMakerRoleArn)' {
        $before = @(Get-WandbLaunchJob).Count
        { Get-WandbLaunchJobManifest -Queue sm-norole -DockerImage registry.example.com/train:1 -ErrorAction Stop } |
            Should -Throw -ErrorId 'MissingSageMakerRoleArn,WandbLaunch.Jobs.GetWandbLaunchJobManifestCommand' -ExpectedMessage '*RoleArn*'
        { Submit-WandbLaunchJob -Queue sm-norole -DockerImage registry.example.com/train:1 -ErrorAction Stop } |
            Should -Throw -ErrorId 'MissingSageMakerRoleArn,WandbLaunch.Jobs.SubmitWandbLaunchJobCommand'
        @(Get-WandbLaunchJob).Count | Should -Be $before
    }
}
