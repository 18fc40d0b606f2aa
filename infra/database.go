package main

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// dbUser is the master user. RDS keeps its password in Secrets Manager and
// rotates it; nobody, this program included, ever sees it.
const dbUser = "shop"

// postgresPort is the port the database listens on.
const postgresPort = 5432

// Database is the shared PostgreSQL instance; each app owns a schema in it.
type Database struct {
	pulumi.ResourceState

	SecurityGroupID pulumi.IDOutput
	Address         pulumi.StringOutput
	Port            pulumi.IntOutput
	Name            string
	User            string
	// SecretArn is the RDS-managed master user secret (JSON with a
	// "password" key), which tasks read through ECS secrets.
	SecretArn pulumi.StringOutput
}

type databaseArgs struct {
	Config           Config
	VpcID            pulumi.StringOutput
	PrivateSubnetIDs pulumi.StringArrayOutput
}

func newDatabase(ctx *pulumi.Context, name string, args databaseArgs, opts ...pulumi.ResourceOption) (*Database, error) {
	d := &Database{Name: args.Config.DBName, User: dbUser}
	if err := ctx.RegisterComponentResource("shop:database:Database", name, d, opts...); err != nil {
		return nil, err
	}
	cfg := args.Config
	parent := pulumi.Parent(d)

	// The group starts closed; the firewall admits each database-owning
	// service's tasks on 5432 and nothing else.
	sg, err := ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId:       args.VpcID,
		Description: pulumi.String("PostgreSQL: only the tasks of services that own a schema"),
	}, parent)
	if err != nil {
		return nil, err
	}
	subnets, err := rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{
		Description: pulumi.String("Private subnets only"),
		SubnetIds:   args.PrivateSubnetIDs,
	}, parent)
	if err != nil {
		return nil, err
	}
	major := strings.Split(cfg.DBEngineVersion, ".")[0]
	params, err := rds.NewParameterGroup(ctx, name, &rds.ParameterGroupArgs{
		Family:      pulumi.String("postgres" + major),
		Description: pulumi.String("Shop PostgreSQL: TLS required"),
		Parameters: rds.ParameterGroupParameterArray{
			// Refuse unencrypted connections, whatever the client asks for.
			&rds.ParameterGroupParameterArgs{Name: pulumi.String("rds.force_ssl"), Value: pulumi.String("1")},
		},
	}, parent)
	if err != nil {
		return nil, err
	}

	// RDS creates a log group per exported log the first time it writes one,
	// with no retention, and leaves it behind when the instance is deleted.
	// Created here first (the instance waits for them), they get the stack's
	// retention and go away with the stack. Their names embed the instance
	// identifier, so the identifier is chosen here rather than generated.
	identifier := dbIdentifier(cfg)
	var logGroups []pulumi.Resource
	for _, export := range dbLogExports {
		group, err := cloudwatch.NewLogGroup(ctx, name+"-"+export, &cloudwatch.LogGroupArgs{
			Name:            pulumi.String(rdsLogGroupName(identifier, export)),
			RetentionInDays: pulumi.Int(cfg.LogRetentionDays),
		}, parent)
		if err != nil {
			return nil, err
		}
		logGroups = append(logGroups, group)
	}

	instance, err := rds.NewInstance(ctx, name, &rds.InstanceArgs{
		Identifier:          pulumi.String(identifier),
		Engine:              pulumi.String("postgres"),
		EngineVersion:       pulumi.String(cfg.DBEngineVersion),
		InstanceClass:       pulumi.String(cfg.DBInstanceClass),
		AllocatedStorage:    pulumi.Int(cfg.DBAllocatedStorage),
		MaxAllocatedStorage: pulumi.Int(cfg.DBMaxAllocatedStorage),
		StorageType:         pulumi.String("gp3"),
		DbName:              pulumi.String(cfg.DBName),
		Username:            pulumi.String(dbUser),
		Port:                pulumi.Int(postgresPort),
		// RDS generates the password and keeps it in Secrets Manager.
		ManageMasterUserPassword:         pulumi.Bool(true),
		DbSubnetGroupName:                subnets.Name,
		ParameterGroupName:               params.Name,
		VpcSecurityGroupIds:              pulumi.StringArray{sg.ID()},
		PubliclyAccessible:               pulumi.Bool(false),                    // RDS.2
		StorageEncrypted:                 pulumi.Bool(true),                     // RDS.3
		BackupRetentionPeriod:            pulumi.Int(cfg.DBBackupRetentionDays), // RDS.11
		AutoMinorVersionUpgrade:          pulumi.Bool(true),                     // RDS.13
		MultiAz:                          pulumi.Bool(cfg.DBMultiAZ),
		DeletionProtection:               pulumi.Bool(cfg.DBDeletionProtection), // RDS.8
		SkipFinalSnapshot:                pulumi.Bool(!cfg.DBFinalSnapshot),
		FinalSnapshotIdentifier:          finalSnapshotID(cfg),
		CopyTagsToSnapshot:               pulumi.Bool(true),
		EnabledCloudwatchLogsExports:     pulumi.ToStringArray(dbLogExports),
		IamDatabaseAuthenticationEnabled: pulumi.Bool(cfg.DBIAMAuth),
		// Dev applies changes at once; elsewhere they wait for the
		// maintenance window rather than restarting production mid-day.
		ApplyImmediately: pulumi.Bool(cfg.ForceDestroy),
	}, parent, pulumi.DependsOn(logGroups))
	if err != nil {
		return nil, err
	}

	d.SecurityGroupID = sg.ID()
	d.Address = instance.Address
	d.Port = instance.Port
	d.SecretArn = instance.MasterUserSecrets.Index(pulumi.Int(0)).SecretArn().Elem()
	return d, ctx.RegisterResourceOutputs(d, pulumi.Map{
		"address":   d.Address,
		"port":      d.Port,
		"secretArn": d.SecretArn,
	})
}

// dbLogExports are the PostgreSQL logs RDS exports to CloudWatch Logs.
var dbLogExports = []string{"postgresql", "upgrade"}

// rdsLogGroupName is where RDS writes an exported log ("Publishing database
// logs to Amazon CloudWatch Logs", Amazon RDS user guide).
func rdsLogGroupName(identifier, export string) string {
	return fmt.Sprintf("/aws/rds/instance/%s/%s", identifier, export)
}

// dbIdentifier is the RDS instance identifier: <project>-<stack>, which
// loadConfig has checked against RDS's rules.
func dbIdentifier(cfg Config) string {
	return strings.ToLower(cfg.Project + "-" + cfg.Stack)
}

// finalSnapshotID names the snapshot RDS takes on delete; RDS rejects a delete
// with a final snapshot but no name.
func finalSnapshotID(cfg Config) pulumi.StringPtrInput {
	if !cfg.DBFinalSnapshot {
		return nil
	}
	return pulumi.String(dbIdentifier(cfg) + "-final")
}
